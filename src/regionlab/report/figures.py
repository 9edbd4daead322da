"""The report's figures: matplotlib (Agg) drawn to PNG bytes and returned as ``data:`` URIs,
so the page carries every image inside itself (no file beside it, no network); photos go as
JPEG.

Text from data (class and run names) reaches matplotlib through :func:`_plain`, so a ``$`` in a
name is printed, not parsed as mathematics.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence

import numpy as np
from PIL import Image

Series = Sequence[tuple[float, float]]
# at most this many classes get their own PR / F1 panel or line; the rest are summed up in "all"
MAX_CLASS_PANELS = 12


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _plain(text: str) -> str:
    return str(text).replace("$", r"\$")


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def image_uri(image: Image.Image, side: int = 192) -> str:
    """A PIL image as a ``data:`` URI; a small one enlarged by a whole factor (pixels kept
    sharp) until its longer side nears ``side``, so every picture shows at its own scale.

    A drawing of at most 256 colours (a synthetic scene, a mask) stays PNG, lossless and sharp;
    a photo becomes JPEG at quality 90, about a sixth of its PNG: a compare's page holds dozens
    of full-size photos, and as PNG they made it 18 MB."""
    k = max(1, side // max(image.size))
    if k > 1:
        image = image.resize((image.width * k, image.height * k), Image.NEAREST)
    image = image.convert("RGB")
    buf = io.BytesIO()
    if image.getcolors(maxcolors=256) is None:
        image.save(buf, format="JPEG", quality=90)
        return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    image.save(buf, format="PNG")
    return data_uri(buf.getvalue())


def _finish(fig) -> str:
    plt = _pyplot()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return data_uri(buf.getvalue())


def _legend(ax) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def learning_curves(
    by_seconds: dict[str, Series], by_images: dict[str, Series], metric: str
) -> str:
    """Validation ``metric`` of each run against training seconds (left) and images seen
    (right)."""
    plt = _pyplot()
    from matplotlib.ticker import EngFormatter, MaxNLocator

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True, sharey=True)
    for ax, series, xlabel in (
        (axes[0], by_seconds, "training seconds"),
        (axes[1], by_images, "images seen"),
    ):
        for name, pts in series.items():
            if pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, marker="o" if len(pts) < 40 else None, ms=3, label=_plain(name))
        ax.set_xlabel(xlabel)
        ax.grid(True, alpha=0.3)
        # at most 5 ticks, 20k not 20000: six-digit counts ran into each other on a narrow axis
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    axes[0].set_ylabel(_plain(f"validation {metric}"))
    _legend(axes[1])
    return _finish(fig)


def _panels(n: int):
    plt = _pyplot()
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols + 1, 2.6 * rows), squeeze=False,
                             constrained_layout=True)  # fmt: skip
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, list(axes.flat[:n])


def pr_curves(
    recall: Sequence[float], by_iou: dict[float, np.ndarray], names: Sequence[str]
) -> str:
    """Precision against recall, one panel per class, one line per IoU threshold
    (``by_iou[iou]`` ``(R, K)``; a class without ground truth is marked so)."""
    k = min(len(names), MAX_CLASS_PANELS)
    fig, axes = _panels(max(k, 1))
    for c, ax in enumerate(axes[:k]):
        for iou, prec in by_iou.items():
            p = prec[:, c]
            if np.all(np.isnan(p)):
                continue
            ap = float(np.nanmean(p))
            ax.plot(recall, p, label=f"IoU {iou:g}: AP {ap:.3f}")
        if not ax.lines:
            ax.text(0.5, 0.5, "no ground truth", ha="center", va="center", transform=ax.transAxes)
        ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision")
        ax.set_title(_plain(names[c]), fontsize=9)
        ax.grid(True, alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7, loc="lower left")
    return _finish(fig)


def f1_confidence(thresholds: np.ndarray, f1: dict[int, np.ndarray], names: Sequence[str]) -> str:
    """F1 against the confidence threshold: a thin line per class, a thick one for all."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.6), constrained_layout=True)
    for c, values in sorted(f1.items()):
        if c == 0 or c > MAX_CLASS_PANELS:
            continue
        ax.plot(thresholds, values, lw=1, label=_plain(names[c]))
    if 0 in f1:
        best = int(np.argmax(f1[0]))
        label = f"all classes: F1 {f1[0][best]:.2f} at {thresholds[best]:.2f}"
        ax.plot(thresholds, f1[0], lw=3, color="k", label=label)
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="confidence threshold", ylabel="F1")
    ax.grid(True, alpha=0.3)
    _legend(ax)
    return _finish(fig)


def confusion(matrix: np.ndarray, names: Sequence[str], xlabel: str, ylabel: str) -> str:
    """Counts ``[true, predicted]`` as a heat map, each row normalised for the colour, the
    count written in each cell."""
    plt = _pyplot()
    m = np.asarray(matrix, dtype=np.float64)
    n = len(names)
    side = min(2 + 0.55 * n, 12)
    fig, ax = plt.subplots(figsize=(side + 1.5, side), constrained_layout=True)
    rows = m.sum(1, keepdims=True)
    ax.imshow(
        np.divide(m, rows, out=np.zeros_like(m), where=rows > 0), cmap="Blues", vmin=0, vmax=1
    )
    if n <= 30:
        for (i, j), v in np.ndenumerate(m):
            ax.text(j, i, f"{int(v)}", ha="center", va="center", fontsize=7)
    labels = [_plain(s) for s in names]
    ax.set_xticks(range(n), labels, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(n), labels, fontsize=7)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    return _finish(fig)


def bars(values: dict[str, dict[str, float]], ylabel: str) -> str:
    """Grouped bars: ``values[group][series]`` (e.g. class -> model -> IoU, or area -> class ->
    AP); a missing or ``nan`` value is an empty slot."""
    plt = _pyplot()
    groups = list(values)
    series = list(dict.fromkeys(s for g in values.values() for s in g))
    fig, ax = plt.subplots(figsize=(min(3 + 0.5 * len(groups) * max(len(series), 1), 14), 3.6),
                           constrained_layout=True)  # fmt: skip
    width = 0.8 / max(len(series), 1)
    for k, s in enumerate(series):
        ys = [values[g].get(s, math.nan) for g in groups]
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(groups))]
        ax.bar(xs, [0 if math.isnan(y) else y for y in ys], width, label=_plain(s))
    ax.set_xticks(range(len(groups)), [_plain(g) for g in groups], rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.02)
    ax.grid(True, axis="y", alpha=0.3)
    _legend(ax)
    return _finish(fig)
