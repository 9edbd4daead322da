"""Predictions in the letterboxed frame a detector sees -> the image's own pixels (boxes,
keypoints and masks alike), as evaluation and ``predict`` report them."""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import Tensor

from regionlab.data.detection_transforms import Frame, unletterbox
from regionlab.ops.detections import Detections


def unletterbox_masks(masks: Tensor, frame: Frame) -> Tensor:
    """``(N, S, S)`` masks in the letterboxed frame -> ``(N, orig_h, orig_w)``: each original
    pixel centre is looked up bilinearly at its letterboxed position (``x * scale + pad``)."""
    n, s_h, s_w = masks.shape
    h, w = frame.orig_h, frame.orig_w
    if n == 0:
        return masks.new_zeros((0, h, w))
    xs = ((torch.arange(w, dtype=torch.float32) + 0.5) * frame.scale_x + frame.pad_x) / s_w
    ys = ((torch.arange(h, dtype=torch.float32) + 0.5) * frame.scale_y + frame.pad_y) / s_h
    grid = torch.stack([xs[None].expand(h, w), ys[:, None].expand(h, w)], -1) * 2 - 1
    out = F.grid_sample(masks[:, None].float(), grid[None].expand(n, h, w, 2).to(masks.device),
                        mode="bilinear", align_corners=False)  # fmt: skip
    return out[:, 0]


def to_original(det: Detections, frame: Frame) -> Detections:
    """Boxes, keypoints and masks (float probabilities) of ``det`` in the image's own pixels."""
    kps = det.keypoints
    if kps is not None:
        scale = torch.tensor([frame.scale_x, frame.scale_y])
        xy = (kps[..., :2] - torch.tensor([frame.pad_x, frame.pad_y])) / scale
        kps = torch.cat([xy, kps[..., 2:]], -1)
    masks = unletterbox_masks(det.masks, frame) if det.masks is not None else None
    return replace(det, boxes=unletterbox(det.boxes, frame), keypoints=kps, masks=masks)
