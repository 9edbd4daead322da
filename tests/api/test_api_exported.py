"""``regionlab.load`` hands exported models (``.onnx``, TorchScript) to ``regionlab.export``
and predicts with them like a checkpoint; without that module it says so."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

import regionlab


class _FakeExported:
    task_name, classes, size = "segment", ["background", "circle"], (8, 8)

    def predict_tensor(self, images: torch.Tensor) -> torch.Tensor:
        return (images.mean(1) > 0.5).long()  # bright pixels are circles


def test_an_exported_model_predicts_like_a_checkpoint(tmp_path, monkeypatch):
    fake = types.ModuleType("regionlab.export")
    fake.load_exported = lambda path: _FakeExported()
    monkeypatch.setitem(sys.modules, "regionlab.export", fake)
    (tmp_path / "m.onnx").write_bytes(b"graph")
    model = regionlab.load(tmp_path / "m.onnx")
    assert model.task_name == "segment" and model.classes == ["background", "circle"]
    img = np.zeros((6, 10, 3), np.uint8)
    img[:, 5:] = 255
    (r,) = model.predict(img)
    assert isinstance(r, regionlab.SegmentationResult)
    assert (
        r.class_map.shape == (6, 10) and r.class_map[:, 5:].all() and not r.class_map[:, :5].any()
    )


def test_without_the_export_module_an_exported_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "regionlab.export", None)  # `import` raises ImportError
    (tmp_path / "m.onnx").write_bytes(b"graph")
    with pytest.raises(ImportError, match="m.onnx is an exported model"):
        regionlab.load(tmp_path / "m.onnx")


def test_a_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        regionlab.load(tmp_path / "nope.pt")
