"""From scored candidate boxes to an image's detections: the one inference every detector of the
library ends with (the grid's dense predictions and the region heads' scored regions alike).

threshold -> (best ``pre_nms_topk``) -> clip to the image -> drop tiny boxes -> class-aware NMS
(:func:`torchvision.ops.batched_nms`) -> the best ``max_det``.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import batched_nms, clip_boxes_to_image, remove_small_boxes

from regionlab.ops.detections import Detections

__all__ = ["select_detections"]


@torch.no_grad()
def select_detections(
    boxes: Tensor,
    scores: Tensor,
    image_size: tuple[int, int],
    score_thresh: float = 0.001,
    nms_iou: float = 0.5,
    max_det: int = 100,
    pre_nms_topk: int | None = None,
    min_size: float | None = None,
) -> Detections:
    """One image's detections.

    Args:
        boxes: ``(P, 4)`` one ``xyxy`` box per candidate, or ``(P, C, 4)`` one per candidate
            and class (class-specific regression).
        scores: ``(P, C)`` probabilities; column ``c - 1`` is class ``c``.
        image_size: ``(H, W)``: boxes are clipped to it.
        pre_nms_topk: keep at most this many (candidate, class) pairs before NMS.
        min_size: drop boxes narrower or lower than this (after clipping).

    Every (candidate, class) pair above ``score_thresh`` is a detection candidate (a box may be
    kept for two classes); the result is sorted by descending score, labels ``1 .. C``.
    """
    c = scores.shape[-1]
    flat = scores.reshape(-1)
    # The best `pre_nms_topk` pairs first, then the threshold: the same set as threshold-then-
    # top-k, with no branch on how many pass, so a traced export (regionlab.export) runs this
    # very function for every image.
    if pre_nms_topk is not None and pre_nms_topk < flat.numel():
        idx = flat.topk(pre_nms_topk).indices
    else:
        idx = torch.arange(flat.numel(), device=flat.device)
    keep = idx[flat[idx] > score_thresh]
    row, col = keep // c, keep % c
    picked = boxes[row] if boxes.dim() == 2 else boxes[row, col if boxes.shape[1] > 1 else 0]
    picked = clip_boxes_to_image(picked.float(), image_size)
    sc, labels = flat[keep].float(), col + 1
    if min_size is not None:
        small = remove_small_boxes(picked, min_size)
        picked, sc, labels = picked[small], sc[small], labels[small]
    kept = batched_nms(picked, sc, labels, nms_iou)[:max_det]
    return Detections(picked[kept], labels[kept], sc[kept])
