"""Checkpoints: written atomically, loaded without executing code.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so
``torch.load(..., weights_only=True)`` reads it and a malicious file cannot run code.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from regionlab.safeload import safe_load

FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint is unreadable or belongs to another task or model."""


def save_atomic(obj: dict, path: str | Path) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path``.

    A crash at any moment leaves either the old file or the new one, never a torn file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete temporary files left by writers that were killed mid-write (never a real file)."""
    stale = [p for p in Path(folder).glob(".*.pt.*.tmp") if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a small text file (summary JSON) so a reader never sees it half-written."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
