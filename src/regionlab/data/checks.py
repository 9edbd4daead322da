"""Checks shared by the readers: JSON parsing and number/box validation with clear errors."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from regionlab.data.errors import DataError

# A box may poke this many pixels past the image border (rounding in annotation tools) and is then
# clipped; anything further out is a real annotation error.
BOX_TOLERANCE = 1.0


def read_text(path: str | Path) -> str:
    """A text file (UTF-8, a byte-order mark allowed); one that is not UTF-8 is a
    :class:`DataError` naming the byte."""
    try:
        return Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(path, f"not valid UTF-8 ({e.reason} at byte {e.start})") from e


def load_json(path: str | Path) -> Any:
    """Parse a JSON file; a missing, non-UTF-8 or malformed file raises :class:`DataError`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "annotation file does not exist")
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(path, f"malformed JSON: {e.msg}", f"line {e.lineno}, col {e.colno}") from e


def numbers(
    values: Any, n: int | None, what: str, *, source: str | Path, where: str
) -> list[float]:
    """Check that ``values`` is a list of ``n`` (any count if None) finite numbers."""
    ok = isinstance(values, (list, tuple)) and (n is None or len(values) == n)
    ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if not ok:
        count = f"{n} " if n is not None else ""
        raise DataError(source, f"{what} must be a list of {count}numbers, got {values!r}", where)
    if not all(math.isfinite(v) for v in values):
        raise DataError(source, f"{what} {values!r} has a non-finite value", where)
    return [float(v) for v in values]


def check_box(
    box: list[float],
    height: int,
    width: int,
    *,
    source: str | Path,
    where: str,
    tol: float = BOX_TOLERANCE,
    written: str | None = None,
) -> list[float]:
    """Validate an ``xyxy`` pixel box against an image of ``height`` x ``width``.

    Returns the box clipped to the image. Raises :class:`DataError` for a non-finite coordinate,
    non-positive width/height, or a box more than ``tol`` pixels outside the image. Messages
    quote ``written``, the box as the file writes it (e.g. ``"bbox [30, 5, -20, 20]"``), so the
    user can find it; without it, the ``xyxy`` values.
    """
    x1, y1, x2, y2 = box
    shown = written or "box [" + ", ".join(f"{v:g}" for v in box) + "] (xyxy)"
    if not all(math.isfinite(v) for v in box):
        raise DataError(source, f"{shown} has a non-finite coordinate", where)
    if x2 <= x1 or y2 <= y1:
        raise DataError(source, f"{shown} has non-positive width or height", where)
    if x1 < -tol or y1 < -tol or x2 > width + tol or y2 > height + tol:
        raise DataError(source, f"{shown} lies outside the {width}x{height} image", where)
    x1, x2 = max(x1, 0.0), min(x2, float(width))
    y1, y2 = max(y1, 0.0), min(y2, float(height))
    if x2 <= x1 or y2 <= y1:
        raise DataError(source, f"{shown} is empty once clipped to the image", where)
    return [x1, y1, x2, y2]


def as_written(name: str, values) -> str:
    """``bbox [30, 5, -20, 20]``: a field quoted the way its file writes it."""
    return (
        f"{name} [" + ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values) + "]"
    )
