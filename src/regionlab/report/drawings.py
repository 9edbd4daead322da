"""The pictures of the page: a validation image's ground truth and a model's prediction,
drawn alike and enlarged by a whole factor first (so a 48-pixel scene shows its boxes, labels
and class colours at a readable size, pixels kept sharp).

Images are ``uint8 (3, H, W)``; every function returns a PIL image.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from PIL import Image

# pictures are enlarged until their longer side nears this many pixels
SIDE = 192
# detections drawn from this score on (every score counts for the curves)
DRAW_CONF = 0.25


def factor(image: torch.Tensor) -> int:
    return max(1, SIDE // max(int(image.shape[-1]), int(image.shape[-2])))


def zoom(t: torch.Tensor | None, k: int) -> torch.Tensor | None:
    """``(..., H, W)`` repeated ``k`` times along both axes (nearest neighbour)."""
    if t is None or k == 1:
        return t
    return t.repeat_interleave(k, -1).repeat_interleave(k, -2)


def _points(kps: torch.Tensor | None, k: int) -> torch.Tensor | None:
    if kps is None or k == 1:
        return kps
    kps = kps.clone()
    kps[..., :2] = (kps[..., :2] + 0.5) * k - 0.5  # pixel centres stay centres
    return kps


def draw_prediction(result) -> Image.Image:
    """A result of :mod:`regionlab.api.results` drawn enlarged; a detector's from
    :data:`DRAW_CONF` on (results are sorted by score)."""
    from regionlab.viz.draw import overlay_panels

    k = factor(result.image)
    if hasattr(result, "class_map"):  # segmentation: one panel, enlarged as it is drawn
        return overlay_panels(result.image, [("prediction", result.class_map)], result.names,
                              result.background, zoom=k)  # fmt: skip
    if hasattr(result, "scores") and result.scores is not None:
        n = int((result.scores >= DRAW_CONF).sum())
        masks = None if result.masks is None else result.masks[:n]
        kps = None if result.keypoints is None else result.keypoints[:n]
        result = replace(result, image=zoom(result.image, k), boxes=result.boxes[:n] * k,
                         labels=result.labels[:n], scores=result.scores[:n],
                         masks=zoom(masks, k), keypoints=_points(kps, k))  # fmt: skip
    elif hasattr(result, "keypoints") and hasattr(result, "visible"):
        result = replace(
            result, image=zoom(result.image, k), keypoints=_points(result.keypoints, k)
        )
    return result.plot()


def draw_truth(task: str, sample, classes: list[str], background: bool = True) -> Image.Image:
    """The ground truth of one sample, drawn (and enlarged) as its predictions are."""
    from regionlab.api.drawing import draw_caption, draw_instances
    from regionlab.viz.draw import overlay_panels, to_pil

    k = factor(sample.image)
    if task == "segment" and sample.semantic is not None:
        return overlay_panels(sample.image, [("truth", sample.semantic)], classes, background,
                              zoom=k)  # fmt: skip
    if task in ("detect", "instance", "localize"):
        masks = zoom(sample.masks, k) if task == "instance" else None
        return draw_instances(zoom(sample.image, k), sample.boxes * k, sample.labels.tolist(),
                              None, classes, masks)  # fmt: skip
    if task == "caption" and sample.captions:
        return draw_caption(sample.image, sample.captions[0])
    return to_pil(zoom(sample.image, k))
