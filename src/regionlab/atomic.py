"""Atomic file writes: a reader (or a crash) sees the old file or the new one, never a torn one.

Stdlib (and torch, imported when saving tensors) only, so any room (``ops/`` caches,
``engine/`` checkpoints, the command line's summaries) can use it without depending on the
others.

A write that fails (a full disk, a read-only or forbidden folder) raises :class:`WriteError`,
naming the file and the cause, and leaves the file as it was: no partial or temporary file.

A new file gets the permissions ``open()`` would give it (``0o666`` less the umask: 0o644
under the usual umask), a rewritten one keeps its own: the temporary file ``mkstemp`` makes
is private (0o600), and renamed as it is it would hide a report or checkpoint from the rest of
a team or from a web server.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

__all__ = [
    "WriteError",
    "append_line",
    "make_folder",
    "save_atomic",
    "temporary_beside",
    "write_bytes_atomic",
    "write_text_atomic",
]


class WriteError(OSError):
    """A file could not be written; the message names it and the cause (``errno`` and
    ``filename`` kept, as in the OSError it replaces)."""

    message = ""

    def __str__(self) -> str:
        return self.message or super().__str__()


def make_folder(path: str | Path) -> None:
    """``mkdir -p``; a folder that cannot be made raises :class:`WriteError` (naming it)."""
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _write_error(Path(path), e, "nothing was written") from e


def _write_error(path: Path, e: OSError, kept: str = "the file is left as it was") -> WriteError:
    code = errno.errorcode.get(e.errno, "") if e.errno is not None else ""
    cause = f"{e.strerror or e}" + (f" [{code}]" if code else "")
    hint = _HINTS.get(code, "")
    err = WriteError(e.errno, e.strerror, str(path))
    err.message = f"{path}: cannot write ({cause}){hint}; {kept}"
    return err


_HINTS = {
    "ENOSPC": ": the disk is full, free space or choose another output folder",
    "EDQUOT": ": the disk quota is spent, free space or choose another output folder",
    "EROFS": ": the folder is on a read-only file system, choose another output folder",
    "EACCES": ": no permission to write in the folder, choose another output folder",
    "EPERM": ": no permission to write in the folder, choose another output folder",
}


def temporary_beside(path: Path) -> tuple[int, str]:
    """``(fd, name)`` of a new temporary file in ``path``'s folder, to be renamed over ``path``,
    with the permissions ``path`` keeps (an existing file's) or gets (a new file's)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _mode_for(path))
    except OSError:
        os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise
    return fd, tmp


def _mode_for(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        # the umask can only be read by setting it: set it back at once (a file another thread
        # creates in between gets the common 0o022)
        mask = os.umask(0o022)
        os.umask(mask)
        return 0o666 & ~mask


def save_atomic(obj: dict, path: str | Path) -> None:
    """``torch.save`` to a temporary file in the same folder, fsync, then rename over ``path``.

    A crash at any moment leaves either the old file or the new one, never a torn file.
    """
    import torch  # here, so the command line can name WriteError without loading torch

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = temporary_beside(path)
    except OSError as e:
        raise _write_error(path, e) from e
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        cause = _os_cause(e)
        if cause is not None:
            raise _write_error(path, cause) from e
        raise
    _fsync_folder(path.parent)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a small text file (summary JSON) so a reader never sees it half-written."""
    if not isinstance(text, str):
        raise TypeError(f"{path}: text to write must be a str, got {type(text).__name__}")
    write_bytes_atomic(path, text.encode("utf-8"))


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write a small file (JSON, a PNG plot) so a reader never sees it half-written."""
    path = Path(path)
    try:
        fd, tmp = temporary_beside(path)
    except OSError as e:
        raise _write_error(path, e) from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise _write_error(path, e) from e
        raise


def append_line(path: str | Path, line: str) -> None:
    """Append ``line`` and a newline to a log (``metrics.jsonl``) whole or not at all: a write
    that fails midway is cut back, so a reader never finds a torn last line."""
    path = Path(path)
    data = (line + "\n").encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as e:
        raise _write_error(path, e) from e
    try:
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except OSError as e:
            os.ftruncate(fd, size)  # frees what the partial write took
            raise _write_error(path, e) from e
    finally:
        os.close(fd)


def _os_cause(e: BaseException) -> OSError | None:
    """The OSError behind ``e``: torch.save reports a failed write of its zip writer as a
    RuntimeError raised while handling the file's OSError (ENOSPC, ...)."""
    if isinstance(e, OSError):
        return e
    return e.__context__ if isinstance(e.__context__, OSError) else None


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
