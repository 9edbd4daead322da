"""Pictures of predictions that :mod:`regionlab.viz.draw` has no single function for: instances
painted in their own colours, a caption under its image, words at their aligned regions.

Every function takes the image as ``uint8 (3, H, W)`` and returns a PIL image.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from regionlab.viz.draw import draw_detections, draw_skeleton, palette, to_pil

# keypoints of instance predictions scoring below this are not drawn (nor their limbs)
KEYPOINT_SCORE = 0.05
WORD_COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6"]


def draw_instances(
    image: torch.Tensor,
    boxes: torch.Tensor,
    labels: list[int],
    scores: list[float],
    classes: list[str],
    masks: torch.Tensor | None = None,
    keypoints: torch.Tensor | None = None,
    skeleton: list[list[int]] | None = None,
) -> Image.Image:
    """Boxes with class and score; each ``bool (N, H, W)`` mask painted in its own colour and
    each ``(N, K, 3)`` ``(x, y, score)`` keypoint set joined by ``skeleton``."""
    pic: Image.Image | torch.Tensor = image
    if masks is not None and len(masks):
        rgb = image.permute(1, 2, 0).cpu().numpy().astype(np.float32)
        cols = palette(len(masks) + 1)[1:].astype(np.float32)
        for m, c in zip(masks.cpu().numpy().astype(bool), cols):
            rgb[m] = 0.45 * rgb[m] + 0.55 * c
        pic = Image.fromarray(rgb.round().clip(0, 255).astype(np.uint8))
    if keypoints is not None:
        pic = pic if isinstance(pic, Image.Image) else to_pil(pic)
        for kps in keypoints:
            pic = draw_skeleton(pic, kps[:, :2], skeleton or [], shown=kps[:, 2] >= KEYPOINT_SCORE)
    return draw_detections(pic, boxes, labels, scores, classes)


def draw_caption(image: torch.Tensor, text: str) -> Image.Image:
    """The image (enlarged to about 256 px) with ``text`` written under it."""
    pic = to_pil(image)
    scale = max(1, 256 // max(pic.size))
    pic = pic.resize((pic.width * scale, pic.height * scale), Image.NEAREST)
    out = Image.new("RGB", (max(pic.width, 8 * len(text) + 8), pic.height + 20), "white")
    out.paste(pic, (0, 0))
    ImageDraw.Draw(out).text((4, pic.height + 4), text, fill="black")
    return out


def draw_alignment(
    image: torch.Tensor, boxes: torch.Tensor, words: list[tuple[str, int, float]], score: float
) -> Image.Image:
    """Each word written at the corner of its best-aligned region (``boxes`` ``xyxy`` pixels,
    outlined in the word's colour), the words and the image-sentence score under the picture."""
    pic = to_pil(image)
    scale = max(1, 384 // max(pic.size))
    pic = pic.resize((pic.width * scale, pic.height * scale), Image.NEAREST)
    lines = 2 + len(words) // 6
    out = Image.new("RGB", (max(pic.width, 360), pic.height + 14 * lines), "white")
    out.paste(pic, (0, 0))
    d = ImageDraw.Draw(out)
    used: dict[int, int] = {}
    for word, b, _ in words:
        if b == 0 and len(words) > 1:
            continue  # words on the whole image would all pile up at its corner
        x0, y0, x1, y1 = (boxes[b] * scale).tolist()
        col = WORD_COLOURS[b % len(WORD_COLOURS)]
        d.rectangle([x0, y0, x1 - 1, y1 - 1], outline=col, width=2)
        d.text((x0 + 2, y0 + 2 + 10 * used.get(b, 0)), word, fill=col)
        used[b] = used.get(b, 0) + 1
    legend = " ".join(f"{w}->{b}" for w, b, _ in words)
    for i in range(0, len(legend), 60):
        d.text((4, pic.height + 2 + 14 * (i // 60)), legend[i : i + 60], fill="black")
    d.text((4, out.height - 13), f"S = {score:.2f} (region 0 = whole image)", fill="black")
    return out
