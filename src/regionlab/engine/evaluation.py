"""Scoring a model on a dataset through its task: in order, in eval mode, without gradients,
spread over the processes of a torchrun job when asked.

A task evaluates in two halves (:class:`~regionlab.tasks.common.BatchwiseEvaluation`):
``evaluate_batch`` (the model's work on one batch -> a picklable part) and ``summarize`` (the
metrics from every part, in batch order). With ``world > 1`` process ``rank`` computes the
parts of batches ``rank, rank + world, ...``, the parts are gathered to every process and
summarized there in batch order: the batches, the parts and their order are those of one
process, so the metrics are the same exactly, at ``1 / world`` of the model's work each.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from regionlab.engine.config import TrainConfig
from regionlab.engine.loader import Augmented, epoch_batches, make_loader
from regionlab.engine.task import Task

__all__ = ["evaluate", "shard_parts"]


def shard_parts(
    task: Task, model: nn.Module, dataset, cfg: TrainConfig, device, *, rank: int = 0,
    world: int = 1,
) -> list[tuple[int, Any]]:  # fmt: skip
    """``(batch index, task.evaluate_batch part)`` of this process's batches (``rank, rank +
    world, ...`` of ``cfg.eval_batch_size`` in order, unaugmented), in eval mode without
    gradients; the model's train/eval mode is restored afterwards."""
    plain = Augmented(dataset, task.transform(train=False), cfg.seed)
    batches = epoch_batches(
        len(dataset), cfg.eval_batch_size, cfg.seed, 0, shuffle=False, drop_last=False
    )
    mine = list(range(rank, len(batches), world))
    loader = make_loader(plain, [batches[i] for i in mine], task.collate, cfg.num_workers)
    was = model.training
    model.eval()
    try:
        with torch.inference_mode():
            return [(i, task.evaluate_batch(model, b, device)) for i, b in zip(mine, loader)]
    finally:
        model.train(was)


def evaluate(
    task: Task, model: nn.Module, dataset, cfg: TrainConfig, device, *, rank: int = 0,
    world: int = 1,
) -> dict:  # fmt: skip
    """``task``'s metrics of ``model`` over ``dataset`` (see :func:`shard_parts`).
    ``rank``/``world``: this process's share of the batches under torchrun (every process must
    call it; all get the metrics)."""
    parts = shard_parts(task, model, dataset, cfg, device, rank=rank, world=world)
    if world > 1:
        gathered: list = [None] * world
        dist.all_gather_object(gathered, parts)
        parts = sorted((p for shard in gathered for p in shard), key=lambda p: p[0])
    return task.summarize([part for _, part in parts])
