"""The training step's arithmetic (``--precision``): what ``auto`` picks and why, that a bf16
step of every family hands its losses fp32 values and follows the fp32 gradient, and that a
run records its precision (and trains exactly as fp32 where ``auto`` says fp32)."""

from __future__ import annotations

import json

import pytest
import torch
from ddp_families import FAMILIES, family_task

from regionlab.data.scenes import CLASSES, SceneConfig, SceneDataset
from regionlab.engine import precision
from regionlab.engine.config import TrainConfig
from regionlab.engine.trainer import fit
from regionlab.models.segmentation.builders import SegmentationSpec
from regionlab.tasks.segmentation import SegmentationTask

CPU = torch.device("cpu")


class _Task:
    def __init__(self, measured: bool | None):
        self.name = "segment"
        if measured is not None:
            self.bf16_training = measured


@pytest.mark.parametrize("amx", [True, False])
def test_auto_is_bf16_only_on_a_cpu_with_amx_for_a_task_measured_under_it(monkeypatch, amx):
    monkeypatch.setattr(precision, "cpu_has_bf16_units", lambda: amx)
    p = precision.resolve("auto", CPU, _Task(True))
    assert p.name == ("bf16" if amx else "fp32") and p.asked == "auto"
    assert ("has AMX" if amx else "no AMX") in p.reason
    for unmeasured in (_Task(False), _Task(None)):  # no attribute: not measured
        p = precision.resolve("auto", CPU, unmeasured)
        assert p.name == "fp32" and "not measured" in p.reason
    p = precision.resolve("auto", torch.device("cuda"), _Task(True))
    assert p.name == "fp32" and "CPUs" in p.reason


def test_an_asked_precision_is_kept_and_a_typo_is_refused(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_bf16_units", lambda: False)
    assert precision.resolve("bf16", CPU, _Task(False)).name == "bf16"
    assert precision.resolve("fp32", CPU, _Task(True)).name == "fp32"
    with pytest.raises(ValueError, match="precision must be one of"):
        precision.resolve("fp16", CPU, _Task(True))
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16"):
        TrainConfig(precision="half").validate()


def _family(name: str):
    task, dataset = family_task(name, 4)
    plain = task.transform(False)
    batch = task.collate([plain(dataset[i]) for i in range(4)])
    return task, batch


def _gradient(task, batch, bf16: bool):
    torch.manual_seed(0)
    model = task.build_model().train()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        torch.manual_seed(1)  # the same sampled regions both ways
        out = task.step(model, batch, CPU)
    out.loss.backward()
    grads = [p.grad.flatten() for p in model.parameters() if p.grad is not None]
    return out.loss, torch.cat(grads)


@pytest.mark.parametrize("name", [n for n in FAMILIES if n != "segment-ce"])
def test_a_bf16_step_gives_fp32_losses_and_follows_the_fp32_gradient(name):
    task, batch = _family(name)
    loss32, g32 = _gradient(task, batch, bf16=False)
    loss16, g16 = _gradient(task, batch, bf16=True)
    assert loss16.dtype == torch.float32 and torch.isfinite(loss16)
    assert abs(loss16.item() - loss32.item()) <= 0.05 * abs(loss32.item()) + 1e-3
    cosine = torch.nn.functional.cosine_similarity(g16, g32, dim=0)
    assert cosine > 0.95, f"{name}: bf16 gradient at cosine {cosine:.3f} to fp32's"


CFG = SceneConfig(size=32, max_objects=2)


class _Unmeasured:
    """A task whose training was not measured under bf16 (no ``bf16_training``)."""

    def __init__(self, task):
        self._task = task

    def __getattr__(self, k):
        if k == "bf16_training":
            raise AttributeError(k)
        return getattr(self._task, k)


def _fit(tmp_path, name, cfg, task):
    data = SceneDataset(8, config=CFG), SceneDataset(4, split="val", config=CFG)
    fit(task, *data, cfg, tmp_path / name, log=lambda *_: None)
    record = json.loads((tmp_path / name / "run.json").read_text())
    state = torch.load(tmp_path / name / "last.pt", weights_only=True)["model"]
    return record["runtime"]["precision"], state


def test_a_run_records_its_precision_and_auto_on_an_unmeasured_task_is_fp32(tmp_path):
    def task():
        spec = SegmentationSpec(4, widths=[8, 16])
        return SegmentationTask(spec, (32, 32), CLASSES, scale=(1, 1))

    base = dict(epochs=1, batch_size=4, eval_batch_size=4, progress=False, threads=1)
    p32, w32 = _fit(tmp_path, "fp32", TrainConfig(**base, precision="fp32"), task())
    auto, w_auto = _fit(tmp_path, "auto", TrainConfig(**base), _Unmeasured(task()))
    p16, w16 = _fit(tmp_path, "bf16", TrainConfig(**base, precision="bf16"), task())
    assert p32 == {"name": "fp32", "asked": "fp32", "reason": "asked"}
    assert auto["name"] == "fp32" and auto["asked"] == "auto"
    assert all(torch.equal(w32[k], w_auto[k]) for k in w32)  # auto -> fp32: the same run
    assert p16["name"] == "bf16"
    assert any(not torch.equal(w32[k], w16[k]) for k in w32)  # bf16 computed another way


@pytest.mark.parametrize(
    "name, measured",
    [("segment", True), ("localize", True), ("keypoints", True), ("detect-grid", True),
     ("detect-faster-rcnn", True), ("instance", False), ("detect-fast-rcnn", False),
     ("caption", False), ("align", False)],
)  # fmt: skip
def test_the_tasks_say_where_bf16_was_measured(name, measured):
    task, _ = _family(name)
    assert getattr(task, "bf16_training", False) is measured


def test_a_mobilenet_segmenter_stays_fp32_under_auto(monkeypatch):
    """MobileNetV3's depthwise steps measured no faster in bf16: ``auto`` keeps them fp32."""
    monkeypatch.setattr(precision, "cpu_has_bf16_units", lambda: True)
    spec = SegmentationSpec(4, backbone="mobilenet_v3_large")
    task = SegmentationTask(spec, (32, 32), CLASSES, scale=(1, 1))
    assert precision.resolve("auto", CPU, task).name == "fp32"
    task.spec.backbone = "small"
    assert precision.resolve("auto", CPU, task).name == "bf16"
