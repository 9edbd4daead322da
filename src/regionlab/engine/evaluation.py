"""Scoring a model on a dataset through its task: in order, in eval mode, without gradients."""

from __future__ import annotations

import torch
from torch import nn

from regionlab.engine.config import TrainConfig
from regionlab.engine.loader import Augmented, epoch_batches, make_loader
from regionlab.engine.task import Task

__all__ = ["evaluate"]


def evaluate(task: Task, model: nn.Module, dataset, cfg: TrainConfig, device) -> dict:
    """Run ``task.evaluate`` over ``dataset`` in order, in eval mode, without gradients.

    Batches of ``cfg.eval_batch_size``, unaugmented (``task.transform(train=False)``); returns
    the task's metrics dict. The model's train/eval mode is restored afterwards.
    """
    plain = Augmented(dataset, task.transform(train=False), cfg.seed)
    batches = epoch_batches(
        len(dataset), cfg.eval_batch_size, cfg.seed, 0, shuffle=False, drop_last=False
    )
    was = model.training
    model.eval()
    try:
        with torch.inference_mode():
            return task.evaluate(
                model, make_loader(plain, batches, task.collate, cfg.num_workers), device
            )
    finally:
        model.train(was)
