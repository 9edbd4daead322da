"""Pictures with Pillow: class-map overlays with legends, annotated samples, detections and
skeletons. (Plots of runs are in :mod:`regionlab.viz.plots`, with matplotlib.)"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from regionlab.data.sample import IGNORE_INDEX, Sample


def palette(n: int) -> np.ndarray:
    """``(n, 3)`` uint8 distinct colours, one per class index (Kelly's / Trubetskoy's list,
    then seeded random colours); index 0 is black only as a background's colour."""
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
    rng = np.random.default_rng(7)
    return np.concatenate([base, rng.integers(0, 256, (n - len(base), 3), dtype=np.uint8)])


def class_colours(classes: list[str], background: bool) -> np.ndarray:
    """One colour per class; with ``background`` class 0 is not painted (black), otherwise
    every class has a visible colour (CamVid's class 0 is sky)."""
    cols = palette(len(classes) + (0 if background else 1))
    return cols if background else cols[1:]


def to_pil(image: torch.Tensor) -> Image.Image:
    """``uint8 (3, H, W)`` or float in [0, 1] -> RGB image."""
    if image.dtype != torch.uint8:
        image = (image.clamp(0, 1) * 255).round().to(torch.uint8)
    return Image.fromarray(image.permute(1, 2, 0).cpu().numpy())


def overlay(
    image: torch.Tensor,
    classes: torch.Tensor,
    colours: np.ndarray,
    background: bool = True,
    alpha: float = 0.6,
) -> Image.Image:
    """Paint a class map ``(H, W)`` over the image. The image is shown in grey under the paint,
    so each class keeps one hue whatever is beneath it; ignored pixels (255) and, with
    ``background``, class 0 are left unpainted. ``colours``: ``(C, 3)`` uint8
    (:func:`class_colours`)."""
    rgb = np.asarray(to_pil(image)).astype(np.float32)
    grey = rgb.mean(axis=2, keepdims=True).repeat(3, axis=2)
    cls = classes.cpu().numpy()
    paint = (cls != IGNORE_INDEX) & (cls >= 0) & (cls < len(colours))
    if background:
        paint &= cls != 0
    out = grey.copy()
    col = colours[np.clip(cls, 0, len(colours) - 1)].astype(np.float32)
    out[paint] = (1 - alpha) * grey[paint] + alpha * col[paint]
    return Image.fromarray(out.round().clip(0, 255).astype(np.uint8))


def legend(classes: list[str], colours: np.ndarray, width: int, background: bool) -> Image.Image:
    """A strip of colour swatches with class names, wrapped to ``width`` pixels."""
    items = [(n, c) for i, (n, c) in enumerate(zip(classes, colours)) if i or not background]
    font = ImageFont.load_default()
    line_h, x, y, rows = 14, 4, 3, []
    for name, _ in items:
        w = 14 + int(font.getlength(name)) + 10
        if x + w > width and x > 4:
            x, y = 4, y + line_h
        rows.append((x, y))
        x += w
    img = Image.new("RGB", (width, y + line_h + 3), (255, 255, 255))
    d = ImageDraw.Draw(img)
    for (name, col), (x, y) in zip(items, rows):
        d.rectangle([x, y + 1, x + 10, y + 11], fill=tuple(int(v) for v in col), outline=(0, 0, 0))
        d.text((x + 14, y), name, fill=(0, 0, 0), font=font)
    return img


def overlay_panels(
    image: torch.Tensor,
    maps: list[tuple[str, torch.Tensor]],
    classes: list[str],
    background: bool,
    zoom: int = 1,
) -> Image.Image:
    """``image | map 1 | map 2 ...`` side by side with a title over each panel and one class
    legend under them (e.g. ``[("truth", semantic), ("prediction", pred)]``)."""
    cols = class_colours(classes, background)
    panels = [("image", to_pil(image))]
    panels += [(title, overlay(image, m, cols, background)) for title, m in maps]
    if zoom > 1:
        panels = [
            (t, p.resize((p.width * zoom, p.height * zoom), Image.NEAREST)) for t, p in panels
        ]
    titled = []
    for title, p in panels:
        canvas = Image.new("RGB", (p.width, p.height + 14), (255, 255, 255))
        canvas.paste(p, (0, 14))
        ImageDraw.Draw(canvas).text((2, 1), title, fill=(0, 0, 0))
        titled.append(canvas)
    row = side_by_side(*titled)
    key = legend(classes, cols, row.width, background)
    out = Image.new("RGB", (row.width, row.height + key.height), (255, 255, 255))
    out.paste(row, (0, 0))
    out.paste(key, (0, row.height))
    return out


def side_by_side(*images: Image.Image, gap: int = 4) -> Image.Image:
    h = max(i.height for i in images)
    w = sum(i.width for i in images) + gap * (len(images) - 1)
    out = Image.new("RGB", (w, h), (255, 255, 255))
    x = 0
    for i in images:
        out.paste(i, (x, 0))
        x += i.width + gap
    return out


def _with_legend(
    img: Image.Image, classes: list[str], cols: np.ndarray, used: set[int], background: bool
) -> Image.Image:
    names = [c if i in used else None for i, c in enumerate(classes)]
    keep = [i for i, n in enumerate(names) if n is not None and (i or not background)]
    if not keep:
        return img
    key = legend([classes[i] for i in keep], cols[keep], max(img.width, 160), False)
    out = Image.new("RGB", (max(img.width, key.width), img.height + key.height), (255, 255, 255))
    out.paste(img, (0, 0))
    out.paste(key, (0, img.height))
    return out


def _box_colour(cols: np.ndarray, label: int) -> tuple[int, int, int]:
    c = cols[label] if 0 <= label < len(cols) else (255, 255, 255)
    return tuple(int(v) for v in c)


def draw_sample(sample: Sample, classes: list[str]) -> Image.Image:
    """Image with its annotations: semantic overlay, boxes and class names in one colour per
    class, keypoints, a class legend and the first caption under it. Class 0 is painted unless
    it is named ``"background"``."""
    background = bool(classes) and classes[0] == "background"
    cols = class_colours(classes, background)
    used: set[int] = set(sample.labels.tolist())
    if sample.semantic is not None:
        img = overlay(sample.image, sample.semantic, cols, background, 0.45)
        used |= {int(v) for v in sample.semantic.unique().tolist() if 0 <= v < len(classes)}
    else:
        img = to_pil(sample.image)
    draw = ImageDraw.Draw(img)
    crowd = sample.iscrowd.tolist() if sample.iscrowd is not None else []
    for i, (box, lab) in enumerate(zip(sample.boxes.tolist(), sample.labels.tolist())):
        c = _box_colour(cols, lab)
        draw.rectangle(box, outline=c, width=1)
        name = classes[lab] if 0 <= lab < len(classes) else str(lab)
        draw.text(
            (box[0] + 2, box[1] + 1), name + (" (crowd)" if crowd and crowd[i] else ""), fill=c
        )
        if sample.keypoints is not None:
            for x, y, v in sample.keypoints[i].tolist():
                if v > 0:
                    r = 2
                    draw.ellipse(
                        [x - r, y - r, x + r, y + r], fill=c if v == 2 else None, outline=c
                    )
    img = _with_legend(img, classes, cols, used, background)
    if sample.captions:
        text = sample.captions[0]
        canvas = Image.new("RGB", (max(img.width, 6 * len(text) + 8), img.height + 16), (255,) * 3)
        canvas.paste(img, (0, 0))
        ImageDraw.Draw(canvas).text((4, img.height + 2), text, fill=(0, 0, 0))
        img = canvas
    return img


def draw_detections(
    image: torch.Tensor | Image.Image,
    boxes: torch.Tensor,
    labels: list[int],
    scores: list[float] | None,
    classes: list[str],
    width: int = 2,
) -> Image.Image:
    """Boxes (``xyxy`` pixels) in one colour per class, each with ``"name 0.93"``, and a legend
    of the classes drawn."""
    img = image.copy() if isinstance(image, Image.Image) else to_pil(image)
    cols = class_colours(classes, True)
    d = ImageDraw.Draw(img)
    for k, (box, lab) in enumerate(zip(torch.as_tensor(boxes).tolist(), labels)):
        c = _box_colour(cols, int(lab))
        d.rectangle(box, outline=c, width=width)
        text = classes[lab] if 0 <= lab < len(classes) else str(lab)
        if scores is not None:
            text += f" {float(scores[k]):.2f}"
        d.text((box[0] + 3, box[1] + 2), text, fill=c)
    return _with_legend(img, classes, cols, {int(v) for v in labels}, True)


def draw_skeleton(
    image: torch.Tensor | Image.Image,
    keypoints: torch.Tensor,
    skeleton: list[list[int]],
    visible: torch.Tensor | None = None,
    colour: tuple[int, int, int] = (40, 220, 40),
    shown: torch.Tensor | None = None,
) -> Image.Image:
    """Keypoints ``(K, 2)`` pixels joined by the ``skeleton``'s index pairs; keypoints whose
    ``visible`` probability is below 0.5 are drawn hollow; those ``shown`` ``bool (K,)`` leaves
    out are not drawn, nor any limb that ends at one."""
    img = image.copy() if isinstance(image, Image.Image) else to_pil(image)
    d = ImageDraw.Draw(img)
    r = max(2, min(img.size) // 80)
    pts = keypoints.tolist()
    on = [True] * len(pts) if shown is None else [bool(v) for v in shown]
    for a, b in skeleton:
        if on[a] and on[b]:
            d.line([tuple(pts[a]), tuple(pts[b])], fill=colour, width=max(1, r // 2 + 1))
    for k, (x, y) in enumerate(pts):
        if not on[k]:
            continue
        filled = visible is None or float(visible[k]) >= 0.5
        d.ellipse([x - r, y - r, x + r, y + r], fill=colour if filled else None, outline=colour)
    return img
