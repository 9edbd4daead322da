"""Reading a run's ``metrics.jsonl``: one JSON object per line, ``split`` = train | val | grow.

Train rows carry ``step``, ``time`` (training seconds so far), ``loss``, ``lr``, the task's
logs and the peak memory of the steps since the previous train row (``memory``:
``{"peak_rss_mb", "peak_cuda_mb"}``, the latter on a GPU; :mod:`regionlab.engine.memory`); val rows ``step``, ``time`` and the task's metrics; grow rows the growth ``event``.
"""

from __future__ import annotations

import json
from pathlib import Path


def read_rows(path: str | Path) -> list[dict]:
    """Every row of a ``metrics.jsonl`` (an empty list when the file does not exist yet)."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def rewind(path: str | Path, rows: int | None, log=print) -> int:
    """``metrics.jsonl`` as it was when a checkpoint counted ``rows`` lines: later lines (an
    interrupted attempt's, which the resumed run writes again) and a torn last line are
    dropped (and said with ``log``), the file rewritten atomically. ``rows=None`` (a checkpoint
    that did not count) keeps every whole line. Returns the lines kept."""
    path = Path(path)
    if not path.is_file():
        return 0
    lines = [line for line in path.read_bytes().splitlines(keepends=True) if line.strip()]
    torn = 1 if lines and not lines[-1].endswith(b"\n") else 0
    whole = lines[: len(lines) - torn]
    keep = whole if rows is None else whole[:rows]
    dropped = len(lines) - len(keep)
    if dropped:
        from regionlab.atomic import write_bytes_atomic

        write_bytes_atomic(path, b"".join(keep))
        log(f"{path}: dropped {dropped} line(s) the interrupted run wrote after its checkpoint")
    return len(keep)


def series(rows: list[dict], split: str, key: str, x: str = "step") -> list[tuple[float, float]]:
    """``(x, row[key])`` of the rows of one ``split`` that have ``key`` (``x``: step | time)."""
    return [(r[x], r[key]) for r in rows if r.get("split") == split and key in r and x in r]
