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
    task = _build(scenes, "detect", "--model", "rcnn", "--context", "0", "--nms-iou", "0")
    assert task.spec.context == 0 and task.spec.nms_iou == 0.0
    model = task.spec.build()  # and on to the model itself
    assert model.cropper.context == 0 and model.nms_iou == 0.0


def test_zero_nms_reaches_the_grid_detector(scenes):
    assert _build(scenes, "detect", "--nms-iou", "0").spec.nms_iou == 0.0


def test_empty_lists_reach_the_detector_specs(scenes):
    assert _build(scenes, "detect", "--widths", "").spec.backbone.widths == []
    spec = _build(scenes, "detect", "--model", "fast-rcnn", "--depths", "").spec
    assert spec.backbone.depths == []
    assert _build(scenes, "instance", "--widths", "").spec.backbone.widths == []
    # R-CNN's --widths are those of the small CNN it runs on every crop
    rcnn = _build(scenes, "detect", "--model", "rcnn", "--widths", "8,16").spec.backbone
    assert (rcnn.name, rcnn.widths) == ("small", [8, 16])
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
    from regionlab.models.detection.specs import GridSpec

    spec = _build(scenes, "detect").spec
    assert spec == GridSpec(3)


def test_empty_detector_widths_are_a_clear_error_before_training(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "detect", "--data", DATA, "--widths", "", "--epochs", "1", "--out", str(run)]
    assert main([*args, "--threads", "1"]) == 2
    assert "need widths for the stem and each stage" in capsys.readouterr().err
    assert not (run / "metrics.jsonl").exists()
