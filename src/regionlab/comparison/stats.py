"""Mean ± sd over seeds of every metric, and which differences are within noise.

``sd`` is the sample standard deviation (``n - 1`` in the denominator; ``0.0`` for one run).

Within noise: for each metric, the best model is the one with the best mean (highest; lowest
for losses and ranks, :func:`lower_is_better`). Another model is *within noise* of it when the
gap between the two means is smaller than the larger of the two sds, ``|mean - best| <
max(sd, sd_best)`` or the means are equal; the best model itself is within noise by
definition. So "within noise" says
the seeds' spread does not separate the two: more seeds (or a real gap) would be needed. No torch.
"""

from __future__ import annotations

import math

# metrics where less is better (losses, error, median rank); every other metric: more is better
_LOWER = ("loss", "med_r", "error", "err")


def lower_is_better(metric: str) -> bool:
    name = metric.split("/")[-1].lower()
    return any(name == k or name.startswith(k) or name.endswith(k) for k in _LOWER)


def mean_sd(values: list[float]) -> dict:
    """``{"mean", "sd", "n", "values"}`` of ``values`` (sample sd; ``0.0`` for a single
    value)."""
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return {"mean": mean, "sd": sd, "n": n, "values": list(values)}


def metric_names(runs: list[dict], main: str | None = None) -> list[str]:
    """Every numeric metric any run has, in the evaluator's order, ``main`` first."""
    names: list[str] = []
    for r in runs:
        for k, v in (r.get("metrics") or {}).items():
            if k not in names and isinstance(v, int | float) and not isinstance(v, bool):
                names.append(k)
    if main in names:
        names.remove(main)
        names.insert(0, main)
    return names


def table(runs: list[dict], main: str | None = None) -> list[dict]:
    """Rows of ``compare.json``'s ``table``: per model (in the order of ``runs``), the number
    of finished runs and mean ± sd of each metric over them, and ``within_noise`` per metric.
    ``runs``: ``{"model", "status", "metrics"}``; failed runs are not counted."""
    names = metric_names(runs, main)
    rows: list[dict] = []
    for model in dict.fromkeys(r["model"] for r in runs):
        done = [r for r in runs if r["model"] == model and r.get("metrics")]
        metrics = {}
        for m in names:
            vals = [float(r["metrics"][m]) for r in done if _number(r["metrics"].get(m))]
            if vals:
                metrics[m] = mean_sd(vals)
        rows.append({"model": model, "n": len(done), "metrics": metrics})
    mark_noise(rows, names)
    return rows


def mark_noise(rows: list[dict], names: list[str]) -> None:
    """Set each row's ``within_noise`` (see the module docstring)."""
    for row in rows:
        row["within_noise"], row["best"] = {}, {}
    for m in names:
        have = [r for r in rows if m in r["metrics"]]
        if not have:
            continue
        sign = -1.0 if lower_is_better(m) else 1.0
        best = max(have, key=lambda r: sign * r["metrics"][m]["mean"])
        b = best["metrics"][m]
        for r in have:
            s = r["metrics"][m]
            gap = abs(s["mean"] - b["mean"])
            r["within_noise"][m] = r is best or gap == 0 or gap < max(s["sd"], b["sd"])
            r["best"][m] = r is best


def best_models(rows: list[dict], metric: str) -> str | None:
    """The best model on ``metric`` (see the module docstring), or ``None``."""
    have = [r for r in rows if metric in r["metrics"]]
    if not have:
        return None
    sign = -1.0 if lower_is_better(metric) else 1.0
    return max(have, key=lambda r: sign * r["metrics"][metric]["mean"])["model"]


def format_table(rows: list[dict], digits: int = 3) -> str:
    """A text table, one line per metric and one column per model: ``mean ± sd``, ``*`` on the
    best model, ``~`` on those within noise of it."""
    if not rows:
        return "(no runs)"
    names = metric_names([{"metrics": {m: 0.0 for m in r["metrics"]}} for r in rows])
    head = ["metric", *(f"{r['model']} (n={r['n']})" for r in rows)]
    lines = [head]
    for m in names:
        best = best_models(rows, m)
        cells = [m]
        for r in rows:
            s = r["metrics"].get(m)
            if s is None:
                cells.append("-")
                continue
            mark = "*" if r["model"] == best else ("~" if r["within_noise"].get(m) else " ")
            part = f" ({s['n']} of {r['n']})" if s.get("n", r["n"]) < r["n"] else ""
            cells.append(f"{s['mean']:.{digits}f} ± {s['sd']:.{digits}f}{mark}{part}")
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    text = ["  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines]
    legend = (
        "* best mean, ~ within noise of it (gap < the larger sd); mean ± sd over seeds; "
        "(k of n): the metric is a number in k of the n runs (NaN or missing in the rest)"
    )
    if any(r["n"] < 2 or any(s.get("n", 2) < 2 for s in r["metrics"].values()) for r in rows):
        legend += (
            "\n(a model or metric with fewer than 2 numbers has no spread of its own: noise "
            "is judged by the other's alone)"
        )
    return "\n".join([*text, legend])


def _number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
