"""A value the user gives reaches the model spec, falsy ones (0, 0.0, an empty list) included;
flags left out keep the spec's defaults."""

from __future__ import annotations

import pytest

from regionlab.cli.main import build_parser, main
from regionlab.cli.specs import open_dataset
from regionlab.cli.tasks import TASKS

DATA = "scenes:size=32,n=4"


@pytest.fixture(scope="module")
def scenes():
    return open_dataset(DATA)


def _build(scenes, *flags: str):
    args = build_parser().parse_args(["train", flags[0], "--data", DATA, *flags[1:]])
    return TASKS[args.task].build(args, scenes)


def test_zero_context_and_nms_reach_the_region_detector(scenes):
    region = _build(scenes, "detect", "--model", "rcnn", "--context", "0", "--nms-iou", "0").spec
    assert region.region.context == 0 and region.region.nms_iou == 0.0


def test_zero_nms_reaches_the_grid_detector(scenes):
    assert _build(scenes, "detect", "--nms-iou", "0").spec.grid.nms_iou == 0.0


def test_empty_lists_reach_the_detector_specs(scenes):
    assert _build(scenes, "detect", "--widths", "").spec.grid.widths == []
    assert _build(scenes, "detect", "--model", "fast-rcnn", "--depths", "").spec.region.depths == []
    assert _build(scenes, "instance", "--widths", "").spec.widths == []
    # the sliding window builds its model at once (to count the windows): its own check
    with pytest.raises(ValueError, match="aspect ratios .* must be non-empty"):
        _build(scenes, "detect", "--model", "sliding-window", "--aspects", "")


def test_zero_size_is_refused_when_parsed(capsys):
    for task in ("detect", "segment"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["train", task, "--data", DATA, "--size", "0"])
        assert "must be positive" in capsys.readouterr().err


@pytest.mark.parametrize("task", ["segment", "localize", "keypoints", "caption", "align"])
def test_empty_widths_reach_the_small_backbone(scenes, task):
    assert _build(scenes, task, "--widths", "").spec.widths == []


def test_unset_flags_keep_the_spec_defaults(scenes):
    from regionlab.models.detection.grid import GridSpec

    spec = _build(scenes, "detect").spec.grid
    assert spec.widths == GridSpec(3).widths and spec.nms_iou == GridSpec(3).nms_iou


def test_empty_detector_widths_are_a_clear_error_before_training(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "detect", "--data", DATA, "--widths", "", "--epochs", "1", "--out", str(run)]
    assert main([*args, "--threads", "1"]) == 2
    assert "need widths for the stem and each stage" in capsys.readouterr().err
    assert not (run / "metrics.jsonl").exists()
