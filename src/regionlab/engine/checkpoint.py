"""Checkpoints: written atomically, loaded without executing code.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so
``torch.load(..., weights_only=True)`` reads it and a malicious file cannot run code.
"""

from __future__ import annotations

from pathlib import Path

import torch  # noqa: F401 - tests patch checkpoint.torch.save

from regionlab.atomic import save_atomic, write_text_atomic
from regionlab.safeload import safe_load

__all__ = [
    "FORMAT_VERSION",
    "CheckpointError",
    "check_same_model",
    "load_checkpoint",
    "remove_stale_temporaries",
    "save_atomic",
    "write_text_atomic",
]

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint is unreadable or belongs to another task or model."""


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete temporary files left by writers that were killed mid-write (never a real file)."""
    stale = [p for p in Path(folder).glob(".*.pt.*.tmp") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def load_checkpoint(path: str | Path, *, task: str | None = None) -> dict:
    """Read a regionlab checkpoint; refuse files of another task (when ``task`` is given)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file does not exist")
    ckpt = safe_load(path, "checkpoint", CheckpointError)
    if not isinstance(ckpt, dict) or "format" not in ckpt or "task" not in ckpt:
        raise CheckpointError(f"{path}: not a regionlab checkpoint (no format/task fields)")
    if task is not None and ckpt["task"] != task:
        raise CheckpointError(f"{path}: checkpoint is for task {ckpt['task']!r}, not {task!r}")
    return ckpt


def check_same_model(ckpt: dict, spec: dict, path: str | Path) -> None:
    """Refuse to resume a checkpoint whose model description differs from ``spec``."""
    if ckpt.get("spec") != spec:
        theirs, ours = ckpt.get("spec") or {}, spec
        diff = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
        raise CheckpointError(
            f"{path}: checkpoint holds another model (differs in {', '.join(diff)}: "
            + ", ".join(f"{k}={theirs.get(k)!r} vs {ours.get(k)!r}" for k in diff[:4])
            + ")"
        )
