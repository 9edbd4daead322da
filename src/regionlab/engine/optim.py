"""The optimiser and its learning-rate schedule (a factor of ``cfg.lr`` at a training progress)."""

from __future__ import annotations

import math

import torch
from torch import nn

from regionlab.engine.config import TrainConfig

__all__ = ["build_optimizer", "lr_factor", "steps_repeat_timed", "timed_lr_factor", "warmup_steps"]

# A timed run warms up before its length is known: over ``warmup x NOMINAL_STEPS`` steps (30 at
# the default 3%, about what 3% of a few-minute CPU run is), not a share of an unknown count.
NOMINAL_STEPS = 1000


def lr_factor(progress: float, cfg: TrainConfig) -> float:
    """Linear warm-up over the first ``cfg.warmup`` of training, then cosine decay or constant."""
    if cfg.warmup > 0 and progress < cfg.warmup:
        return max(progress / cfg.warmup, 1e-3)
    if cfg.schedule == "constant":
        return 1.0
    p = (progress - cfg.warmup) / max(1e-8, 1 - cfg.warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, max(0.0, p))))


def warmup_steps(cfg: TrainConfig, known: int | None = None) -> int:
    """The warm-up in steps (0: none): ``warmup x NOMINAL_STEPS``, and at most a tenth of a
    count ``known`` from the start (``--steps``)."""
    n = math.ceil(cfg.warmup * NOMINAL_STEPS)
    return min(n, math.ceil(known / 10)) if known else n


def steps_repeat_timed(cfg: TrainConfig, n: int) -> bool:
    """Whether ``--steps n`` trains the schedule of a timed run that fixed ``n`` steps (its
    warm-up, capped at a tenth of ``n``, is the timed one's)."""
    return warmup_steps(cfg, known=n) == warmup_steps(cfg)


def timed_lr_factor(
    step: int, cfg: TrainConfig, end: tuple[int, int] | None, known: int | None = None
) -> float:
    """The factor of a run counted in steps at ``step`` (0-based, the step about to train):
    linear warm-up over :func:`warmup_steps`, flat, then (once ``end = (decay_start, total)``
    is fixed) cosine from ``decay_start`` to zero at ``total``; ``cfg.schedule ==
    "constant"`` never decays. A function of the step and ``end`` alone (see
    :mod:`regionlab.engine.budget`); ``known``: a count given from the start (``--steps``)."""
    n = warmup_steps(cfg, known)
    factor = max((step + 1) / n, 1e-3) if step < n else 1.0
    if end is None or cfg.schedule == "constant":
        return factor
    start, total = end
    p = (step - start) / max(1, total - start)
    return factor * 0.5 * (1 + math.cos(math.pi * min(1.0, max(0.0, p))))


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
    # fused: one vectorised kernel over all parameters (on a CPU too, since torch 2.4): the
    # per-tensor loop was 14 ms of a 0.37 s Faster R-CNN step, a tenth of a small model's
    fused = {"fused": True} if _fusable(model) else {}
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=True, **fused)
    return torch.optim.AdamW(groups, lr=cfg.lr, **fused)


def _fusable(model: nn.Module) -> bool:
    """Whether torch's fused optimizer kernels take these parameters: floating point, all on
    the CPU or all on one accelerator (the fused kernels exist for both)."""
    params = [p for p in model.parameters() if p.requires_grad]
    devices = {p.device.type for p in params}
    return bool(params) and len(devices) == 1 and all(p.is_floating_point() for p in params)
