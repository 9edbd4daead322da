"""Evaluation spread over processes: every family's metrics from two shards of the batches,
gathered in batch order, equal one process's exactly (same parts, same order), and the
gathering goes through ``all_gather_object``."""

from __future__ import annotations

import math

import pytest
import torch
from ddp_families import FAMILIES, family_task

from regionlab.engine import evaluation
from regionlab.engine.config import TrainConfig
from regionlab.engine.evaluation import evaluate, shard_parts

CPU = torch.device("cpu")
CFG = TrainConfig(eval_batch_size=4, progress=False, threads=1)  # 10 samples: 3 batches


def _family(name: str):
    task, dataset = family_task(name, 10)
    torch.manual_seed(0)
    return task, task.build_model(), dataset


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        (isinstance(a[k], float) and math.isnan(a[k]) and math.isnan(b[k])) or a[k] == b[k]
        for k in a
    )


@pytest.mark.parametrize("name", [n for n in FAMILIES if n != "segment-ce"])
def test_two_shards_gathered_equal_one_process_exactly(name):
    task, model, data = _family(name)
    whole = evaluate(task, model, data, CFG, CPU)
    shards = [shard_parts(task, model, data, CFG, CPU, rank=r, world=2) for r in (0, 1)]
    assert [i for i, _ in shards[0]] == [0, 2] and [i for i, _ in shards[1]] == [1]
    merged = sorted(shards[0] + shards[1], key=lambda p: p[0])
    assert _same(task.summarize([p for _, p in merged]), whole)
    assert task.main_metric in whole and "loss" in whole


def test_the_shards_are_gathered_from_every_process(monkeypatch):
    task, model, data = _family("segment")
    other = shard_parts(task, model, data, CFG, CPU, rank=1, world=2)
    calls = []

    def all_gather_object(out, mine):  # what gloo would return: every rank's list, by rank
        calls.append(len(out))
        out[0], out[1] = mine, other

    monkeypatch.setattr(evaluation.dist, "all_gather_object", all_gather_object)
    shared = evaluate(task, model, data, CFG, CPU, rank=0, world=2)
    assert calls == [2] and _same(shared, evaluate(task, model, data, CFG, CPU))
