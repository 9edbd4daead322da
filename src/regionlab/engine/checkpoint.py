"""Checkpoints: one typed :class:`RunCheckpoint`, written atomically, loaded without running code.

On disk a checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so
``torch.load(..., weights_only=True)`` reads it and a malicious file cannot run code::

    {"format": 1, "task": str, "spec": dict, "config": dict (TrainConfig.to_dict()),
     "model": {name: Tensor}, "state": dict (RunState.to_dict()),
     "optimizer": dict, "rng": dict}     # the last two in last.pt only (what a resume needs)

:class:`RunCheckpoint` is that dict, typed and validated; :func:`load_checkpoint` returns the raw
dict for code that still indexes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from regionlab.atomic import save_atomic, write_text_atomic
from regionlab.engine.state import RunState
from regionlab.safeload import safe_load

if TYPE_CHECKING:
    from regionlab.engine.config import TrainConfig

__all__ = [
    "FORMAT_VERSION",
    "CheckpointError",
    "RunCheckpoint",
    "RunState",
    "check_same_model",
    "load_checkpoint",
    "remove_stale_temporaries",
    "save_atomic",
    "write_text_atomic",
]

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint is unreadable or belongs to another task or model."""


@dataclass
class RunCheckpoint:
    """One checkpoint: the model a task's ``spec`` builds, its weights, and how the run stood.

    ``optimizer`` and ``rng`` are set in ``last.pt`` (what a resume needs) and ``None`` in
    ``best.pt`` (the model alone).
    """

    task: str  # the task's name, e.g. "segment"
    spec: dict  # Task.spec_dict(): enough to rebuild the task and its (ungrown) model
    config: dict  # TrainConfig.to_dict() of the run (growth replay reads grow and seed)
    model: dict[str, torch.Tensor]  # state_dict() of the model, grown as state.grown says
    state: RunState = field(default_factory=RunState)
    optimizer: dict | None = None  # optimizer.state_dict()
    rng: dict | None = None  # runtime.rng_state() (of rank 0 under torchrun)
    process_rng: list | None = None  # torchrun: every process's rng_state(), by rank
    format: int = FORMAT_VERSION

    @property
    def resumable(self) -> bool:
        return self.optimizer is not None and self.rng is not None

    def to_dict(self) -> dict:
        """The plain dict written to disk (``optimizer`` and ``rng`` only when set)."""
        d = {
            "format": self.format,
            "task": self.task,
            "spec": self.spec,
            "config": self.config,
            "model": self.model,
            "state": self.state.to_dict(),
        }
        if self.optimizer is not None:
            d["optimizer"] = self.optimizer
        if self.rng is not None:
            d["rng"] = self.rng
        if self.process_rng is not None:
            d["process_rng"] = self.process_rng
        return d

    @classmethod
    def from_dict(
        cls, data: dict, *, source: str = "checkpoint", task: str | None = None
    ) -> RunCheckpoint:
        """Validate a checkpoint dict (as read from disk); errors name ``source``."""
        _check_fields(data, source)
        if task is not None and data["task"] != task:
            raise CheckpointError(
                f"{source}: checkpoint is for task {data['task']!r}, not {task!r}"
            )
        try:
            state = RunState.from_dict(data["state"], source=source)
        except (TypeError, ValueError) as e:
            raise CheckpointError(str(e)) from None
        return cls(**{**data, "state": state})

    def save(self, path: str | Path) -> None:
        """Write atomically: a crash leaves the previous file or this one, never a torn file."""
        save_atomic(self.to_dict(), path)

    @classmethod
    def load(cls, path: str | Path, *, task: str | None = None) -> RunCheckpoint:
        """Read and validate ``path`` (``weights_only``: no code runs); refuse another task's."""
        return cls.from_dict(load_checkpoint(path, task=task), source=str(path))

    def check_same_model(self, spec: dict, path: str | Path) -> None:
        check_same_model(self, spec, path)

    def check_same_run(self, config: dict, world: int, path: str | Path) -> None:
        """Refuse to resume with settings the run's path depends on changed (see
        :data:`RESUME_KEYS`) or another number of processes: the same batch index would
        name other samples, the schedule another learning rate, a seed another split."""
        was = len(self.process_rng) if self.process_rng else 1
        changed = [f"{k} {self.config[k]!r} (now {config.get(k)!r})" for k in RESUME_KEYS
                   if k in self.config and self.config[k] != config.get(k)]  # fmt: skip
        if was != world:
            changed.append(f"{was} process(es) (now {world})")
        if changed:
            raise CheckpointError(
                f"{path}: a resume continues the run as it started, but it had "
                + ", ".join(changed)
                + ": give the same options (run.json lists them), or train anew elsewhere"
            )

    def train_config(self, **overrides) -> TrainConfig:
        """The run's :class:`TrainConfig`, with ``overrides`` (e.g. ``progress=False``)."""
        from regionlab.engine.config import TrainConfig

        return TrainConfig.from_dict({**self.config, **overrides}, source="checkpoint config")


# The settings a run's path depends on; the rest may change on a resume: threads, workers,
# evaluation and checkpoint cadence, device, progress, TensorBoard, and the length (epochs,
# minutes, steps: a finished run resumed with more trains on, its schedule stretched to it).
RESUME_KEYS = ("batch_size", "optimizer", "lr", "momentum", "weight_decay", "schedule",
               "warmup", "grad_clip", "seed", "precision", "grow", "grow_mode", "grow_noise",
               "sync_bn")  # fmt: skip
_REQUIRED = {"format": int, "task": str, "spec": dict, "config": dict, "model": dict, "state": dict}
_OPTIONAL = {"optimizer": dict, "rng": dict, "process_rng": list}


def _check_fields(data: dict, source: str) -> None:
    """Every field present with its type, no unknown field, a format this code reads."""
    if not isinstance(data, dict):
        raise CheckpointError(f"{source}: not a regionlab checkpoint (not a dict)")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise CheckpointError(f"{source}: checkpoint lacks field(s) {', '.join(missing)}")
    known = {f.name for f in fields(RunCheckpoint)}
    unknown = sorted(str(k) for k in set(data) - known)
    if unknown:
        raise CheckpointError(f"{source}: unknown checkpoint field(s) {', '.join(unknown)}")
    for key, kind in {**_REQUIRED, **_OPTIONAL}.items():
        if key in data and not isinstance(data[key], kind):
            raise CheckpointError(
                f"{source}: checkpoint field {key} must be a {kind.__name__}, "
                f"got {type(data[key]).__name__}"
            )
    if not 1 <= data["format"] <= FORMAT_VERSION:
        raise CheckpointError(
            f"{source}: checkpoint format {data['format']} is not readable by this regionlab "
            f"(reads formats 1..{FORMAT_VERSION}; a newer regionlab wrote it?)"
        )
    if ("optimizer" in data) != ("rng" in data):
        raise CheckpointError(f"{source}: checkpoint has only one of optimizer and rng")
    bad = [str(k) for k, v in data["model"].items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{source}: model entries that are not tensors: {', '.join(bad[:4])}")


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete temporary files left by writers that were killed mid-write (never a real file)."""
    stale = [p for p in Path(folder).glob(".*.pt.*.tmp") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def load_checkpoint(path: str | Path, *, task: str | None = None) -> dict:
    """The raw dict of a regionlab checkpoint (only ``format`` and ``task`` checked); refuse
    files of another task (when ``task`` is given). Prefer :meth:`RunCheckpoint.load`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file does not exist")
    ckpt = safe_load(path, "checkpoint", CheckpointError)
    if not isinstance(ckpt, dict) or "format" not in ckpt or "task" not in ckpt:
        raise CheckpointError(f"{path}: not a regionlab checkpoint (no format/task fields)")
    if task is not None and ckpt["task"] != task:
        raise CheckpointError(f"{path}: checkpoint is for task {ckpt['task']!r}, not {task!r}")
    return ckpt


def check_same_model(ckpt: RunCheckpoint | dict, spec: dict, path: str | Path) -> None:
    """Refuse to resume a checkpoint whose model description differs from ``spec``."""
    theirs = ckpt.spec if isinstance(ckpt, RunCheckpoint) else ckpt.get("spec")
    if theirs != spec:
        theirs, ours = theirs or {}, spec
        diff = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
        raise CheckpointError(
            f"{path}: checkpoint holds another model (differs in {', '.join(diff)}: "
            + ", ".join(f"{k}={theirs.get(k)!r} vs {ours.get(k)!r}" for k in diff[:4])
            + ")"
        )
