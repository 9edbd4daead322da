"""PNG drawing with Pillow: class-map overlays, annotated samples, learning curves.

No plotting library is needed: a curve is a polyline on a canvas with labelled axes.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from regionlab.data.sample import IGNORE_INDEX, Sample


def palette(n: int) -> np.ndarray:
    """``(n, 3)`` uint8 distinct colours; class 0 (background) is black."""
    rng = np.random.default_rng(7)
    base = np.array(
        [
            [0, 0, 0],
            [230, 25, 75],
            [60, 180, 75],
            [255, 225, 25],
            [0, 130, 200],
            [245, 130, 48],
            [145, 30, 180],
            [70, 240, 240],
            [240, 50, 230],
            [210, 245, 60],
            [250, 190, 212],
            [0, 128, 128],
            [220, 190, 255],
        ],
        np.uint8,
    )
    if n <= len(base):
        return base[:n]
    return np.concatenate([base, rng.integers(0, 256, (n - len(base), 3), dtype=np.uint8)])


def to_pil(image: torch.Tensor) -> Image.Image:
    """``uint8 (3, H, W)`` or float in [0, 1] -> RGB image."""
    if image.dtype != torch.uint8:
        image = (image.clamp(0, 1) * 255).round().to(torch.uint8)
    return Image.fromarray(image.permute(1, 2, 0).cpu().numpy())


def overlay(
    image: torch.Tensor, classes: torch.Tensor, num_classes: int, alpha: float = 0.5
) -> Image.Image:
    """Blend a class map ``(H, W)`` over the image; background and ignored pixels stay as is."""
    img = np.asarray(to_pil(image)).astype(np.float32)
    cls = classes.cpu().numpy()
    col = palette(max(num_classes, 1))[np.clip(cls, 0, num_classes - 1)].astype(np.float32)
    paint = (cls > 0) & (cls != IGNORE_INDEX)
    img[paint] = (1 - alpha) * img[paint] + alpha * col[paint]
    return Image.fromarray(img.astype(np.uint8))


def side_by_side(*images: Image.Image, gap: int = 4) -> Image.Image:
    h = max(i.height for i in images)
    w = sum(i.width for i in images) + gap * (len(images) - 1)
    out = Image.new("RGB", (w, h), (255, 255, 255))
    x = 0
    for i in images:
        out.paste(i, (x, 0))
        x += i.width + gap
    return out


def draw_sample(sample: Sample, classes: list[str]) -> Image.Image:
    """Image with its annotations: semantic overlay, instance outlines, boxes, labels, keypoints,
    and the first caption under it."""
    n = len(classes)
    img = (
        overlay(sample.image, sample.semantic, n, 0.35)
        if sample.semantic is not None
        else to_pil(sample.image)
    )
    draw = ImageDraw.Draw(img)
    cols = palette(max(n, 2))
    for i, (box, lab) in enumerate(zip(sample.boxes.tolist(), sample.labels.tolist())):
        c = tuple(int(v) for v in cols[lab % len(cols)]) if lab else (255, 255, 255)
        draw.rectangle(box, outline=c, width=1)
        name = classes[lab] if 0 <= lab < n else str(lab)
        draw.text((box[0] + 2, box[1] + 1), name, fill=c)
        if sample.keypoints is not None:
            for x, y, v in sample.keypoints[i].tolist():
                if v > 0:
                    r = 2
                    draw.ellipse(
                        [x - r, y - r, x + r, y + r], fill=c if v == 2 else None, outline=c
                    )
    if sample.captions:
        text = sample.captions[0]
        canvas = Image.new("RGB", (max(img.width, 6 * len(text) + 8), img.height + 16), (255,) * 3)
        canvas.paste(img, (0, 0))
        ImageDraw.Draw(canvas).text((4, img.height + 2), text, fill=(0, 0, 0))
        img = canvas
    return img


def draw_boxes(
    image: torch.Tensor | Image.Image,
    boxes: list[list[float]],
    texts: list[str],
    colour: tuple[int, int, int] = (255, 40, 40),
    width: int = 2,
) -> Image.Image:
    """Boxes (``xyxy`` pixels) with a text each (e.g. ``"raccoon 0.93"``) drawn on the image."""
    img = image.copy() if isinstance(image, Image.Image) else to_pil(image)
    d = ImageDraw.Draw(img)
    for box, text in zip(boxes, texts):
        d.rectangle(box, outline=colour, width=width)
        d.text((box[0] + 3, box[1] + 2), text, fill=colour)
    return img


def draw_skeleton(
    image: torch.Tensor | Image.Image,
    keypoints: torch.Tensor,
    skeleton: list[list[int]],
    visible: torch.Tensor | None = None,
    colour: tuple[int, int, int] = (40, 220, 40),
) -> Image.Image:
    """Keypoints ``(K, 2)`` pixels joined by the ``skeleton``'s index pairs; keypoints whose
    ``visible`` probability is below 0.5 are drawn hollow."""
    img = image.copy() if isinstance(image, Image.Image) else to_pil(image)
    d = ImageDraw.Draw(img)
    r = max(2, min(img.size) // 80)
    pts = keypoints.tolist()
    for a, b in skeleton:
        d.line([tuple(pts[a]), tuple(pts[b])], fill=colour, width=max(1, r // 2 + 1))
    for k, (x, y) in enumerate(pts):
        filled = visible is None or float(visible[k]) >= 0.5
        d.ellipse([x - r, y - r, x + r, y + r], fill=colour if filled else None, outline=colour)
    return img


def learning_curve(
    series: dict[str, list[tuple[float, float]]],
    path: str | Path,
    xlabel: str = "step",
    size: tuple[int, int] = (640, 400),
    shared_y: bool | list[str] = False,
) -> Path:
    """Plot named ``(x, y)`` series on one chart and save it as PNG. Each series is scaled to
    its own y-range (printed in the legend), since a loss and an IoU do not share units;
    ``shared_y=True`` puts series of one unit (e.g. three runs' mIoU) on one common range, and
    a list of names puts just those series on one common range."""
    w, h = size
    ml, mr, mt, mb = 50, 20, 20, 40
    img = Image.new("RGB", (w, h), (255, 255, 255))
    d = ImageDraw.Draw(img)
    d.rectangle([ml, mt, w - mr, h - mb], outline=(0, 0, 0))
    xs = [x for pts in series.values() for x, _ in pts]
    if not xs:
        img.save(path)
        return Path(path)
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    cols = palette(len(series) + 1)[1:]
    for k, (name, pts) in enumerate(series.items()):
        if not pts:
            continue
        group = list(series) if shared_y is True else list(shared_y or [])
        ys = [y for n in group for _, y in series[n]] if name in group else [y for _, y in pts]
        y0, y1 = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1
        c = tuple(int(v) for v in cols[k])
        line = [
            (
                ml + (x - x0) / (x1 - x0) * (w - ml - mr),
                h - mb - (y - y0) / (y1 - y0) * (h - mt - mb),
            )
            for x, y in pts
        ]
        if len(line) > 1:
            d.line(line, fill=c, width=2)
        for p in line if len(line) < 30 else []:
            d.ellipse([p[0] - 2, p[1] - 2, p[0] + 2, p[1] + 2], fill=c)
        d.text((ml + 8, mt + 6 + 14 * k), f"{name}: {y0:.3g} .. {y1:.3g}", fill=c)
    d.text((ml, h - mb + 6), f"{x0:.4g}", fill=(0, 0, 0))
    d.text((w - mr - 40, h - mb + 6), f"{x1:.4g}", fill=(0, 0, 0))
    d.text((w // 2 - 20, h - mb + 20), xlabel, fill=(0, 0, 0))
    img.save(path)
    return Path(path)


def tune_curve(rows: list, metric: str, path: str | Path) -> Path:
    """The loss-weight tuning plot: mean metric (and mean - std, on the same range) and the
    held-out loss against log10 lambda. ``rows``: objects with ``weight``, ``metric_mean``,
    ``metric_std`` and ``loss_mean`` (``regionlab.engine.tune.TuneRow``)."""
    x = [math.log10(r.weight) for r in rows]
    mean, low = f"{metric} mean", f"{metric} mean - std"
    return learning_curve(
        {
            mean: [(a, r.metric_mean) for a, r in zip(x, rows)],
            low: [(a, r.metric_mean - r.metric_std) for a, r in zip(x, rows)],
            "held-out loss": [(a, r.loss_mean) for a, r in zip(x, rows)],
        },
        path,
        xlabel="log10 lambda",
        shared_y=[mean, low],
    )
