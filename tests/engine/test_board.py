"""--tensorboard: event files TensorBoard reads (scalars at each log step and evaluation,
prediction images through the task's optional draw), and a clear error without the extra."""

import sys

import pytest
from PIL import Image

from regionlab.data.scenes import CLASSES, SceneConfig, SceneDataset
from regionlab.engine.config import TrainConfig
from regionlab.engine.trainer import fit
from regionlab.models.segmentation.builders import SegmentationSpec
from regionlab.tasks.segmentation import SegmentationTask

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    EventAccumulator,
)

CFG = SceneConfig(size=32, max_objects=2)


def _task():
    return SegmentationTask(SegmentationSpec(4, widths=[8, 16]), (32, 32), CLASSES, scale=(1, 1))


def _cfg(**kw):
    base = dict(epochs=2, batch_size=4, eval_batch_size=4, progress=False, threads=1)
    return TrainConfig(**{**base, "tensorboard": True, **kw})


class Drawing:
    """A task with the optional ``draw(model, image)`` hook."""

    def __init__(self, task):
        self.task, self.drawn = task, 0

    def __getattr__(self, k):
        return getattr(self.task, k)

    def draw(self, model, image):
        assert image.dtype.is_floating_point is False and image.shape == (3, 32, 32)
        self.drawn += 1
        return Image.new("RGB", (40, 30), (255, 0, 0))


def _events(folder):
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def test_scalars_and_prediction_images_are_readable_by_tensorboard(tmp_path):
    tr, va = SceneDataset(8, config=CFG), SceneDataset(3, split="val", config=CFG)
    task = Drawing(_task())
    fit(task, tr, va, _cfg(), tmp_path, log=lambda *_: None)
    acc = _events(tmp_path / "tensorboard")
    tags = acc.Tags()
    assert {"train/loss", "train/lr", "val/miou", "val/loss", "val/pixel_acc"} <= set(
        tags["scalars"]
    )
    assert [e.step for e in acc.Scalars("train/loss")] == [1]  # logged as metrics.jsonl is
    # one evaluation after each of the 2 epochs (2 steps each), at the step it happened
    assert [e.step for e in acc.Scalars("val/miou")] == [2, 4]
    assert sorted(tags["images"]) == ["predictions/0", "predictions/1", "predictions/2"]
    image = acc.Images("predictions/0")[-1]
    assert (image.width, image.height) == (40, 30) and image.step == 4
    assert task.drawn == 2 * 3


def test_a_resumed_run_continues_its_curves(tmp_path):
    tr, va = SceneDataset(8, config=CFG), SceneDataset(2, split="val", config=CFG)
    fit(_task(), tr, va, _cfg(epochs=1), tmp_path, log=lambda *_: None)
    fit(_task(), tr, va, _cfg(epochs=3), tmp_path, resume=True, log=lambda *_: None)
    acc = _events(tmp_path / "tensorboard")
    assert [e.step for e in acc.Scalars("val/miou")] == [2, 4, 6]
    assert "predictions/0" not in acc.Tags()["images"]  # this task does not draw


def test_without_tensorboard_installed_the_error_names_the_extra(tmp_path, monkeypatch):
    for name in list(sys.modules):
        if name == "tensorboard" or name.startswith(("tensorboard.", "torch.utils.tensorboard")):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import tensorboard -> ImportError
    tr, va = SceneDataset(8, config=CFG), SceneDataset(2, split="val", config=CFG)
    with pytest.raises(ImportError, match=r"regionlab\[tensorboard\]"):
        fit(_task(), tr, va, _cfg(), tmp_path / "run", log=lambda *_: None)
    assert not (tmp_path / "run").exists()  # stopped before any work


def test_tensorboard_is_an_extra_that_dev_also_installs():
    tomllib = pytest.importorskip("tomllib")
    from pathlib import Path

    meta = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    extras = meta["project"]["optional-dependencies"]
    assert extras["tensorboard"] == ["tensorboard>=2.14"]
    assert "tensorboard>=2.14" in extras["dev"]
    assert not any(d.startswith("tensorboard") for d in meta["project"]["dependencies"])
