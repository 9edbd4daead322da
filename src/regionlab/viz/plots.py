"""Plots of runs with matplotlib (Agg backend, no screen needed): learning curves, tuning
curves and curves comparing runs.

matplotlib is imported when a plot is drawn, not when this module is imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

Series = Sequence[tuple[float, float]]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> None:
    # Rendered in memory, then written whole: a full disk leaves the previous picture, no torn one.
    import io

    from regionlab.atomic import write_bytes_atomic

    buf = io.BytesIO()
    fig.savefig(buf, dpi=110, format=Path(path).suffix.lstrip(".") or "png")
    write_bytes_atomic(path, buf.getvalue())


def _draw(ax, series: dict[str, Series], marker_below: int = 40) -> None:
    for name, pts in series.items():
        if not pts:
            continue
        xs, ys = zip(*pts)
        ax.plot(xs, ys, label=name, marker="o" if len(pts) < marker_below else None, ms=3)
    ax.grid(True, alpha=0.3)


def learning_curve(
    train_loss: Series,
    metrics: dict[str, Series],
    path: str | Path,
    *,
    val_loss: Series = (),
    xlabel: str = "step",
    title: str = "",
) -> Path:
    """One run: training (and validation) loss on the upper axes, validation metrics on the
    lower axes, sharing the x axis; legends beside the data, not on it."""
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True, constrained_layout=True)
    _draw(top, {"train loss": train_loss, "val loss": val_loss})
    top.set_ylabel("loss")
    _draw(bottom, metrics)
    bottom.set_ylabel("validation metric")
    bottom.set_xlabel(xlabel)
    for ax in (top, bottom):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    if title:
        top.set_title(title)
    _save(fig, path)
    plt.close(fig)
    return Path(path)


def compare_curves(
    series: dict[str, Series],
    path: str | Path,
    *,
    xlabel: str,
    ylabel: str,
    title: str = "",
    logx: bool = False,
) -> Path:
    """Several runs (or methods) of one quantity on common axes."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5), constrained_layout=True)
    _draw(ax, series)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    _save(fig, path)
    plt.close(fig)
    return Path(path)


def tune_curve(rows: list, metric: str, path: str | Path) -> Path:
    """The loss-weight tuning plot against lambda on a log axis labelled with the lambdas:
    mean metric with a +-std band (left axis), held-out loss (right axis). ``rows``: objects
    with ``weight``, ``metric_mean``, ``metric_std`` and ``loss_mean``
    (``regionlab.engine.tune.TuneRow``)."""
    plt = _pyplot()
    lam = [r.weight for r in rows]
    mean = [r.metric_mean for r in rows]
    std = [r.metric_std for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
    ax.plot(lam, mean, "o-", color="C0", label=f"{metric} (mean of folds)")
    ax.fill_between(
        lam,
        [m - s for m, s in zip(mean, std)],
        [m + s for m, s in zip(mean, std)],
        color="C0",
        alpha=0.2,
        label="+- std over folds",
    )
    ax.set_xscale("log")
    ax.set_xticks(lam, [f"{x:g}" for x in lam])
    ax.minorticks_off()
    ax.set_xlabel("lambda (loss weight)")
    ax.set_ylabel(metric, color="C0")
    ax.grid(True, alpha=0.3)
    right = ax.twinx()
    right.plot(lam, [r.loss_mean for r in rows], "s--", color="C3", label="held-out loss")
    right.set_ylabel("held-out loss", color="C3")
    best = max(rows, key=lambda r: r.metric_mean)
    ax.axvline(best.weight, color="0.5", ls=":", lw=1)
    handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + right.get_legend_handles_labels()[1]
    fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    ax.set_title(f"chosen lambda {best.weight:g} (best mean {metric})")
    _save(fig, path)
    plt.close(fig)
    return Path(path)
