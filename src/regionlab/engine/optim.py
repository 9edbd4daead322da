"""The optimiser and its learning-rate schedule (a factor of ``cfg.lr`` at a training progress)."""

from __future__ import annotations

import math

import torch
from torch import nn

from regionlab.engine.config import TrainConfig

__all__ = ["build_optimizer", "lr_factor"]


def lr_factor(progress: float, cfg: TrainConfig) -> float:
    """Linear warm-up over the first ``cfg.warmup`` of training, then cosine decay or constant."""
    if cfg.warmup > 0 and progress < cfg.warmup:
        return max(progress / cfg.warmup, 1e-3)
    if cfg.schedule == "constant":
        return 1.0
    p = (progress - cfg.warmup) / max(1e-8, 1 - cfg.warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, max(0.0, p))))


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    # No weight decay on norms and biases: decaying them only fights the normalisation.
    decay, plain = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else plain).append(p)
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": plain, "weight_decay": 0.0},
    ]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=True)
    return torch.optim.AdamW(groups, lr=cfg.lr)
