"""Every task family trains and evaluates under torchrun (2 CPU processes, gloo): rank 0 alone
writes the run's files, the same files a 1-process run writes. With ``--sync-bn`` a family
whose loss is a mean over equal images (segmentation by pixel cross-entropy) ends at the
1-process run's weights within float rounding; the others differ by what their losses
normalise over each process's slice (see ``ddp_families.py`` for the table)."""

from __future__ import annotations

import json

import pytest
import torch
from ddp_families import FAMILIES, max_difference, train
from torch import nn

from regionlab.engine.syncbn import GlobalBatchNormMixin, sync_batchnorm

needs_dist = pytest.mark.skipif(
    not torch.distributed.is_available(), reason="torch.distributed missing"
)


@needs_dist
@pytest.mark.slow
@pytest.mark.parametrize("family", [f for f in FAMILIES if f != "segment-ce"])
def test_every_family_trains_and_evaluates_with_two_processes(tmp_path, family):
    one, two = tmp_path / "one", tmp_path / "two"
    train(family, one, 1)
    train(family, two, 2, "--sync-bn")
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())
    rows = (two / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == len((one / "metrics.jsonl").read_text().splitlines())  # rank 0 only
    a, b = (json.loads((run / "metrics.json").read_text()) for run in (one, two))
    assert a["steps"] == b["steps"] == 4 and a["final"].keys() == b["final"].keys()
    assert json.loads((two / "run.json").read_text())["runtime"]["world"] == 2
    assert max_difference(one, two) < 1.0  # same run up to the losses' per-slice averages


@needs_dist
def test_sync_bn_two_processes_equal_one_with_the_same_global_batch(tmp_path):
    # (without --sync-bn each process normalises by its own slice: about 1e-1 apart here)
    one, sync = tmp_path / "one", tmp_path / "sync"
    train("segment-ce", one, 1)
    train("segment-ce", sync, 2, "--sync-bn")
    assert max_difference(one, sync) < 1e-5


def test_sync_bn_keeps_layers_parameters_and_keys():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.BatchNorm1d(2))
    keys, bn = list(model.state_dict()), model[1]
    weight = bn.weight
    x = torch.randn(2, 3, 6, 6)
    expected = model[:3](x)
    model[1].running_mean.zero_()  # the reference forward moved them; start again
    model[1].running_var.fill_(1)
    model[1].num_batches_tracked.zero_()
    assert sync_batchnorm(model, torch.device("cpu")) is model
    assert isinstance(model[1], nn.BatchNorm2d) and isinstance(model[1], GlobalBatchNormMixin)
    assert isinstance(model[3], nn.BatchNorm1d) and model[1].weight is weight
    assert list(model.state_dict()) == keys
    # outside a process group it is plain BatchNorm
    assert torch.equal(model[:3](x), expected)
