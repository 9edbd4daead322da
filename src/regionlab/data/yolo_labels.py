"""One YOLO label file: a box ``class cx cy w h`` or a polygon ``class x1 y1 x2 y2 x3 y3 ...``
(Ultralytics' segmentation labels) a line, every value normalised by the image size to 0..1."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from regionlab.data.checks import check_box, read_text
from regionlab.data.errors import DataError

# Normalised values may stray this far outside 0..1 (float rounding in exporters).
COORD_TOLERANCE = 1e-3


@dataclass
class LabelObject:
    """One labelled object: its 0-based class, ``xyxy`` pixel box (clipped to the image), the
    polygon as flat ``[x1, y1, ...]`` pixels (``None`` for a box line) and its line number."""

    cls: int
    box: list[float]
    polygon: list[float] | None
    line: int


def read_label_file(label_file: Path, h: int, w: int) -> list[LabelObject]:
    """The objects of ``label_file`` for an ``h`` x ``w`` image (blank lines skipped).

    Raises :class:`DataError` naming the file and line for: a file that is not UTF-8 (a UTF-8
    byte-order mark is allowed), a field count that is neither 5 (a box) nor an odd 7 or more (a
    polygon of 3+ points), a non-number, a negative class, a non-finite value, a value outside
    0..1 (beyond 1e-3), a box or polygon of no width or height, or a box outside the image.
    """
    text = read_text(label_file)
    tol = max(1.0, COORD_TOLERANCE * max(h, w))
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            out.append(_parse(line.strip(), label_file, f"line {n}", n, h, w, tol))
    return out


def _parse(line: str, label_file: Path, where: str, n: int, h: int, w: int, tol: float):
    fields = line.split()
    _check_count(len(fields), label_file, where)
    try:
        if "_" in line:  # Python reads "0_5" as 5: no label tool means that
            raise ValueError(line)
        cls = int(fields[0])
        values = [float(f) for f in fields[1:]]
    except ValueError:
        raise DataError(label_file, f"not a number in {line!r}", where) from None
    if cls < 0:
        raise DataError(label_file, f"class id {cls} is negative", where)
    if not all(math.isfinite(v) for v in values):
        raise DataError(label_file, f"non-finite value in {line!r}", where)
    polygon = None
    if len(values) == 4:
        cx, cy, bw, bh = values
        if bw <= 0 or bh <= 0:
            raise DataError(
                label_file, f"box has non-positive width or height ({bw:g}, {bh:g})", where
            )
        _check_unit(values, label_file, where)
        box = [(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h]
        written = f"box {line!r} (class cx cy w h)"
    else:
        _check_unit(values, label_file, where)
        xs, ys = values[0::2], values[1::2]
        if max(xs) <= min(xs) or max(ys) <= min(ys):
            raise DataError(
                label_file, "polygon has no width or height (its points line up)", where
            )
        polygon = [v * (w if i % 2 == 0 else h) for i, v in enumerate(values)]
        box = [min(xs) * w, min(ys) * h, max(xs) * w, max(ys) * h]
        written = f"polygon of {len(xs)} points"
    box = check_box(box, h, w, source=label_file, where=where, tol=tol, written=written)
    return LabelObject(cls, box, polygon, n)


def _check_count(count: int, label_file: Path, where: str) -> None:
    if count < 5:
        raise DataError(label_file, f"expected 5 fields 'class cx cy w h', got {count}", where)
    if count != 5 and count % 2 == 0:
        hint = " (a prediction file's 'class cx cy w h score' line?)" if count == 6 else ""
        raise DataError(
            label_file,
            f"polygon 'class x1 y1 x2 y2 ...' has an odd number of coordinates ({count - 1})"
            + hint,
            where,
        )


def _check_unit(values: list[float], label_file: Path, where: str) -> None:
    bad = [i for i, v in enumerate(values) if not -COORD_TOLERANCE <= v <= 1 + COORD_TOLERANCE]
    if not bad:
        return
    if len(values) == 4:
        raise DataError(label_file, f"coordinates {tuple(values)} outside 0..1", where)
    i = bad[0]
    raise DataError(
        label_file,
        f"polygon point {i // 2 + 1} has {'xy'[i % 2]} = {values[i]:g}, outside 0..1",
        where,
    )
