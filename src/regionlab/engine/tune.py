"""Choose a loss weight by k-fold cross-validation of the metric the user cares about.

The loss value cannot choose it: ``cls + lambda * box`` grows with ``lambda`` for the same
predictions, so the smallest ``lambda`` always "wins" on loss. This module trains one model per
(weight, fold) with the ordinary engine, scores the held-out fold, and reports both choices.
It knows no task: ``make_task(weight)`` builds one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch.utils.data import Subset

from regionlab.engine.config import TrainConfig
from regionlab.engine.trainer import fit


def kfold(n: int, folds: int, seed: int = 0) -> list[tuple[list[int], list[int]]]:
    """``folds`` (train, held-out) index splits of a shuffled ``range(n)``; every index is held
    out exactly once, fold sizes differ by at most one."""
    if folds < 2:
        raise ValueError(f"need at least 2 folds, got {folds}")
    if n < folds:
        raise ValueError(f"{n} samples cannot be split into {folds} folds")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    parts = [order[i::folds] for i in range(folds)]
    return [
        (sorted(i for j, p in enumerate(parts) if j != k for i in p), sorted(parts[k]))
        for k in range(folds)
    ]


@dataclass
class TuneRow:
    weight: float
    metric_mean: float
    metric_std: float
    loss_mean: float
    loss_std: float
    metric_folds: list[float] = field(default_factory=list)
    loss_folds: list[float] = field(default_factory=list)


@dataclass
class TuneResult:
    metric: str
    rows: list[TuneRow]
    chosen: float  # highest mean metric (ties: the first listed)
    chosen_by_loss: float  # lowest mean held-out loss

    def table(self) -> str:
        """A Markdown table, the chosen weight marked."""
        lines = [
            f"| lambda | {self.metric} mean | {self.metric} std | held-out loss mean | loss std |",
            "|---|---|---|---|---|",
        ]
        for r in self.rows:
            mark = " (chosen)" if r.weight == self.chosen else ""
            mark += " (loss pick)" if r.weight == self.chosen_by_loss else ""
            lines.append(
                f"| {r.weight:g}{mark} | {r.metric_mean:.4f} | {r.metric_std:.4f} | "
                f"{r.loss_mean:.4f} | {r.loss_std:.4f} |"
            )
        lines.append("")
        lines.append(f"chosen lambda (best mean {self.metric}): {self.chosen:g}")
        lines.append(f"lambda the held-out loss alone would pick: {self.chosen_by_loss:g}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return asdict(self)


def _mean_std(xs: list[float]) -> tuple[float, float]:
    m = sum(xs) / len(xs)
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / len(xs))


def cross_validate(
    make_task: Callable[[float], object],
    dataset,
    weights: list[float],
    folds: int,
    cfg: TrainConfig,
    out_dir: str | Path,
    metric: str,
    log: Callable[[str], None] = print,
    *,
    keep_checkpoints: bool = False,
) -> TuneResult:
    """Train ``len(weights) * folds`` runs (each with ``cfg``: same budget, same seed) and score
    ``metric`` (higher is better) and the loss on each held-out fold, after the last epoch.

    Every run's folder (``out_dir/lambda=<w>/fold<k>``) keeps its ``metrics.jsonl`` (and its
    checkpoints with ``keep_checkpoints``); the summary is written to ``out_dir/tune.json``.
    An existing ``out_dir`` is refused."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise FileExistsError(f"{out_dir} exists; choose a new output folder")
    if not weights:
        raise ValueError("no loss weights to try")
    splits = kfold(len(dataset), folds, cfg.seed)
    rows = []
    for w in weights:
        metrics, losses = [], []
        for k, (tr, va) in enumerate(splits):
            task = make_task(w)
            res = fit(
                task,
                Subset(dataset, tr),
                Subset(dataset, va),
                cfg,
                out_dir / f"lambda={w:g}" / f"fold{k}",
                log=lambda _msg: None,
                checkpoints=keep_checkpoints,
            )
            if metric not in res.metrics:
                raise ValueError(f"metric {metric!r} not among {sorted(res.metrics)}")
            metrics.append(float(res.metrics[metric]))
            losses.append(float(res.metrics["loss"]))
            log(
                f"lambda={w:g} fold {k}: {metric} {metrics[-1]:.4f}, held-out loss "
                f"{losses[-1]:.4f} ({res.steps} steps)"
            )
        (mm, ms), (lm, ls) = _mean_std(metrics), _mean_std(losses)
        rows.append(TuneRow(w, mm, ms, lm, ls, metrics, losses))
    best = max(rows, key=lambda r: r.metric_mean)  # max() keeps the first of equals
    by_loss = min(rows, key=lambda r: r.loss_mean)
    result = TuneResult(metric, rows, best.weight, by_loss.weight)
    (out_dir / "tune.json").write_text(json.dumps(result.to_dict(), indent=2))
    (out_dir / "tune.md").write_text(result.table() + "\n")
    return result
