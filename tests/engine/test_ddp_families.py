"""Every task family trains and evaluates under torchrun (2 CPU processes, gloo): rank 0 alone
writes the run's files, the same files a 1-process run writes, and with ``--sync-bn`` every
family ends at the 1-process run's weights within float rounding (each loss normalised over
the global batch, each image sampling with its own generator; ``ddp_families.py`` has the
table)."""

from __future__ import annotations

import json

import pytest
import torch
from ddp_families import FAMILIES, max_difference, train_all
from torch import nn

from regionlab.engine.syncbn import GlobalBatchNormMixin, sync_batchnorm

needs_dist = pytest.mark.skipif(
    not torch.distributed.is_available(), reason="torch.distributed missing"
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every family trained by 1 process, then by 2 under torchrun with --sync-bn (one launch
    each: the families one after the other)."""
    root = tmp_path_factory.mktemp("ddp")
    train_all(root / "one", 1, list(FAMILIES))
    train_all(root / "two", 2, list(FAMILIES), "--sync-bn")
    return root / "one", root / "two"


@needs_dist
@pytest.mark.slow
@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_trains_and_evaluates_with_two_processes(runs, family):
    one, two = (r / family for r in runs)
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())
    rows = (two / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == len((one / "metrics.jsonl").read_text().splitlines())  # rank 0 only
    a, b = (json.loads((run / "metrics.json").read_text()) for run in (one, two))
    assert a["steps"] == b["steps"] == 4 and a["final"].keys() == b["final"].keys()
    assert json.loads((two / "run.json").read_text())["runtime"]["world"] == 2
    # the same run, up to float rounding (SGD: see ddp_families.py for AdamW)
    assert max_difference(one, two) < 1e-4


@needs_dist
@pytest.mark.slow
def test_sync_bn_two_processes_equal_one_with_the_same_global_batch(tmp_path):
    # (without --sync-bn each process normalises by its own slice: about 1e-1 apart here)
    train_all(tmp_path / "one", 1, ["segment-ce"])
    train_all(tmp_path / "two", 2, ["segment-ce"], "--sync-bn")
    assert max_difference(tmp_path / "one" / "segment-ce", tmp_path / "two" / "segment-ce") < 1e-5


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
