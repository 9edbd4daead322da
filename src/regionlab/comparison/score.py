"""Score one finished run on the comparison's report split: ``best.pt`` and ``last.pt``, by the
task's own evaluator (:func:`regionlab.evaluate`), into ``RUN/scores.json``::

    {"split": "report", "spec": "<report data spec>",
     "checkpoints": {"best": {metric: value, ...}, "last": {...}}, "seconds": 3.1}

Run as its own process by the scheduler (``python -m regionlab.comparison.score RUN SPEC``),
with the run's threads, so scoring runs ``--parallel`` at a time like training does.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

NAME = "scores.json"
CHECKPOINTS = ("best", "last")


def score(run: str | Path, spec: str) -> dict:
    """Evaluate ``run``'s checkpoints on the data ``spec``; writes and returns ``scores.json``.
    The data is decoded and checked once, before the first checkpoint."""
    from regionlab.api.training import evaluate
    from regionlab.atomic import write_text_atomic

    run = Path(run)
    t0 = time.perf_counter()
    metrics = {}
    for i, name in enumerate(CHECKPOINTS):
        ckpt = run / f"{name}.pt"
        if not ckpt.exists():
            raise FileNotFoundError(f"{ckpt}: the run has no {name}.pt to score")
        metrics[name] = evaluate(ckpt, spec, data_check="auto" if i == 0 else "off")
    out = {
        "split": "report",
        "spec": spec,
        "checkpoints": metrics,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    write_text_atomic(run / NAME, json.dumps(out, indent=2) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m regionlab.comparison.score RUN_DIR REPORT_SPEC", file=sys.stderr)
        return 2
    try:
        score(args[0], args[1])
    except (ValueError, FileNotFoundError, ImportError) as e:
        print(f"regionlab: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
