"""Predictions in the letterboxed frame a detector sees -> the image's own pixels (boxes,
keypoints and masks alike), as evaluation and ``predict`` report them."""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import Tensor

from regionlab.data.detection_transforms import Frame, unletterbox
from regionlab.ops.detections import Detections
from regionlab.ops.masks import box_spans


def unletterbox_masks(masks: Tensor, frame: Frame, boxes: Tensor | None = None) -> Tensor:
    """``(N, S, S)`` masks in the letterboxed frame -> ``(N, orig_h, orig_w)``: each original
    pixel centre is looked up bilinearly at its letterboxed position (``x * scale + pad``).

    ``boxes (N, 4)`` (letterboxed ``xyxy``): each mask is 0 outside its box (pasted masks),
    so only the original pixels that read the box's :func:`~regionlab.ops.masks.box_spans`
    are sampled, the same values (a hundred detections: 10 M pixels sampled, their boxes a
    few hundred thousand)."""
    n, s_h, s_w = masks.shape
    h, w = frame.orig_h, frame.orig_w
    if n == 0:
        return masks.new_zeros((0, h, w))
    xs = ((torch.arange(w, dtype=torch.float32) + 0.5) * frame.scale_x + frame.pad_x) / s_w
    ys = ((torch.arange(h, dtype=torch.float32) + 0.5) * frame.scale_y + frame.pad_y) / s_h
    gx, gy = (xs * 2 - 1).to(masks.device), (ys * 2 - 1).to(masks.device)
    if boxes is None:  # every mask at once, all of its pixels
        grid = torch.stack(torch.broadcast_tensors(gx[None, :], gy[:, None]), -1)
        return F.grid_sample(masks[:, None].float(), grid[None].expand(n, h, w, 2),
                             mode="bilinear", align_corners=False)[:, 0]  # fmt: skip
    spans = _original_spans(box_spans(boxes, (s_h, s_w)), frame, (h, w)).tolist()
    out = masks.new_zeros((n, h, w), dtype=torch.float32)
    for i, (a, b, c, d) in enumerate(spans):
        if c > a and d > b:
            grid = torch.stack(torch.broadcast_tensors(gx[None, a:c], gy[b:d, None]), -1)
            out[i, b:d, a:c] = F.grid_sample(masks[i, None, None].float(), grid[None],
                                             mode="bilinear", align_corners=False)[0, 0]  # fmt: skip
    return out


def _original_spans(spans: Tensor, frame: Frame, size: tuple[int, int]) -> Tensor:
    """Letterboxed pixel spans ``(N, 4)`` -> the original pixels whose bilinear lookups
    (two letterboxed pixels about ``x * scale + pad``) can touch them, a pixel wider on every
    side, clipped to the ``(h, w)`` image."""
    h, w = size
    scale = torch.tensor([frame.scale_x, frame.scale_y] * 2, dtype=torch.float64)
    pad = torch.tensor([frame.pad_x, frame.pad_y] * 2, dtype=torch.float64)
    edge = torch.tensor([-0.5, -0.5, 0.5, 0.5], dtype=torch.float64)
    at = (spans.double() + edge - pad) / scale - 0.5
    lo = (at[:, :2].floor() - 1).clamp(min=0)
    hi = torch.stack([(at[:, 2].ceil() + 1).clamp(max=w), (at[:, 3].ceil() + 1).clamp(max=h)], 1)
    return torch.cat([lo, hi], 1).long()


def to_original(det: Detections, frame: Frame) -> Detections:
    """Boxes, keypoints and masks (float probabilities) of ``det`` in the image's own pixels."""
    kps = det.keypoints
    if kps is not None:
        scale = torch.tensor([frame.scale_x, frame.scale_y])
        xy = (kps[..., :2] - torch.tensor([frame.pad_x, frame.pad_y])) / scale
        kps = torch.cat([xy, kps[..., 2:]], -1)
    masks = None if det.masks is None else unletterbox_masks(det.masks, frame, det.boxes)
    return replace(det, boxes=unletterbox(det.boxes, frame), keypoints=kps, masks=masks)
