"""The segmentation peers: LR-ASPP trained by our loop exactly as a default ``train segment``
run (the same size, batch, learning rate, class weights and Dice), only the network swapped,
and scored on the report images by our own evaluator; a network whose stride needs padding
gets it and is cropped back."""

from __future__ import annotations

import json

import pytest
import torch
from peer_jobs import run_peer
from torch import nn

from regionlab.api.prepare import classes_of
from regionlab.api.specs import open_dataset
from regionlab.comparison.peer_segment import peer_network
from regionlab.eval.results_file import read_class_maps
from regionlab.eval.segmentation import ConfusionMatrix


def test_lraspp_trains_as_our_default_run_and_is_scored_by_our_evaluator(tmp_path):
    # 32 training scenes: the scenes recipe's batch is 16
    out = run_peer(tmp_path, "tv-lraspp", "segment", "scenes:size=32,n=40", 40, held=4)
    last = json.loads((out / "scores.json").read_text())["checkpoints"]["last"]
    assert 0 <= last["miou"] <= 1 and "pixel_acc" in last and "iou/background" in last
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["peer"] == "tv-lraspp" and summary["steps"] >= 1
    assert summary["size"] == [32, 32] and summary["batch_size"] == 16  # the scenes recipe's
    # its report class maps, kept for the report, score what our evaluator scored
    spec, maps = read_class_maps(out / "predictions.json")
    ds = open_dataset(spec, split="val")
    classes = classes_of(ds)
    cm = ConfusionMatrix(len(classes))
    for i, m in enumerate(maps):
        cm.update(m, ds[i].semantic)
    assert len(maps) == 4 and cm.compute(classes)["miou"] == pytest.approx(last["miou"])
    record = json.loads((out / "run.json").read_text())
    assert record["model"]["input"] == [3, 32, 32] and record["model"]["gflops_per_image"] > 0
    assert summary["train_images"] == 16 * summary["steps"] and summary["test_ms_per_image"] > 0


def test_a_stride_bound_network_is_padded_and_cropped_back():
    seen = []

    class Stride32(nn.Module):
        def forward(self, x):
            seen.append(tuple(x.shape[-2:]))
            assert x.shape[-2] % 32 == 0 and x.shape[-1] % 32 == 0
            return torch.zeros(len(x), 3, *x.shape[-2:], requires_grad=True)

    model = peer_network(Stride32(), [1.0, 2.0, 1.0], dice=1.0, multiple=32)
    out = model(torch.rand(2, 3, 40, 70), torch.zeros(2, 40, 70, dtype=torch.long))
    assert seen == [(64, 96)] and out.logits.shape == (2, 3, 40, 70)
    assert out.loss is not None and torch.isfinite(out.loss)
