"""Atomic file writes: a reader (or a crash) sees the old file or the new one, never a torn one.

Stdlib and torch only, so any room (``ops/`` caches, ``engine/`` checkpoints, the command line's
summaries) can use it without depending on the others.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

__all__ = ["save_atomic", "write_text_atomic"]


def save_atomic(obj: dict, path: str | Path) -> None:
    """``torch.save`` to a temporary file in the same folder, fsync, then rename over ``path``.

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
    _fsync_folder(path.parent)


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


def _fsync_folder(folder: Path) -> None:
    # Makes the rename itself durable; some filesystems cannot open a folder, which is harmless.
    try:
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
