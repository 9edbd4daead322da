"""Growth schedules in training: when to grow, and how to rebuild a grown model from a checkpoint.

A checkpoint stores the model as built from the task's spec *plus* how many steps of the run's
``grow`` schedule were applied; replaying those steps (seeded, so the same units are copied)
recreates the grown architecture before its weights are loaded.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from regionlab.engine.checkpoint import RunCheckpoint
from regionlab.growth import GrowthError, GrowthStep, apply_step, parse_schedule


def schedule(text: str | None) -> list[GrowthStep]:
    return parse_schedule(text) if text else []


def apply_steps(
    model: nn.Module,
    steps: list[GrowthStep],
    start: int,
    stop: int,
    *,
    seed: int,
    optimizer: torch.optim.Optimizer | None = None,
    mode: str = "net2net",
    noise: float = 0.0,
) -> None:
    """Apply ``steps[start:stop]`` in place; step ``i`` draws from a generator seeded by
    ``(seed, i)``, so every process and every replay copies the same units."""
    for i in range(start, stop):
        gen = torch.Generator().manual_seed(seed * 1009 + i)
        apply_step(model, steps[i], optimizer, generator=gen, mode=mode, noise=noise)


def dry_run(model: nn.Module, steps: list[GrowthStep], *, seed: int, mode: str) -> None:
    """Apply every step to a copy of ``model``, so a misspelt module name or a step that cannot
    keep the function fails before training rather than at its epoch."""
    trial = copy.deepcopy(model)
    for i, step in enumerate(steps):
        try:
            apply_steps(trial, steps, i, i + 1, seed=seed, mode=mode)
        except (GrowthError, AttributeError, KeyError, ValueError) as e:
            raise GrowthError(f"growth step {step} cannot be applied to this model: {e}") from e


def due(steps: list[GrowthStep], applied: int, epoch: int) -> int:
    """How many steps should have been applied once epoch ``epoch`` starts."""
    n = applied
    while n < len(steps) and steps[n].epoch <= epoch:
        n += 1
    return n


def model_from_checkpoint(task, ckpt: RunCheckpoint | dict) -> nn.Module:
    """Build ``task``'s model, replay the growth the checkpoint records, load its weights.

    ``ckpt``: a :class:`RunCheckpoint`, or the raw dict of :func:`load_checkpoint` (validated
    here, so a malformed one raises :class:`CheckpointError`)."""
    if not isinstance(ckpt, RunCheckpoint):
        ckpt = RunCheckpoint.from_dict(ckpt)
    model = task.build_model()
    if ckpt.state.grown:
        cfg = ckpt.config
        steps = schedule(cfg.get("grow"))
        apply_steps(model, steps, 0, ckpt.state.grown, seed=cfg.get("seed", 0))
    model.load_state_dict(ckpt.model)
    return model
