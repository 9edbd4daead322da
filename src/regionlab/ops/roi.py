"""Region-of-interest geometry: how a region is grown, squared, batched and read from a map.

Boxes are ``xyxy`` pixels of the input tensor. RoIAlign and RoIPool are torchvision's
(:func:`torchvision.ops.roi_align`, :func:`torchvision.ops.roi_pool`); what is ours is which
part of which map a region reads.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor
from torchvision.ops import roi_align, roi_pool

__all__ = ["crop_level", "expand_boxes", "pyramid_levels", "roi_rows", "square_boxes"]


def expand_boxes(rois: Tensor, factor: float) -> Tensor:
    """``(K, 4)`` boxes grown about their centres by ``factor`` (``> 1`` adds context)."""
    c = (rois[:, :2] + rois[:, 2:]) / 2
    half = (rois[:, 2:] - rois[:, :2]) / 2 * factor
    return torch.cat([c - half, c + half], 1)


def square_boxes(rois: Tensor) -> Tensor:
    """The tightest square about each ``(K, 4)`` box's centre."""
    c = (rois[:, :2] + rois[:, 2:]) / 2
    half = (rois[:, 2:] - rois[:, :2]).max(1, keepdim=True).values / 2
    return torch.cat([c - half, c + half], 1)


def roi_rows(rois: Sequence[Tensor], dtype: torch.dtype, device=None) -> Tensor:
    """One ``(K_i, 4)`` tensor per image -> ``(K, 5)`` rows ``(image index, x1, y1, x2, y2)``,
    the layout torchvision's RoI operators read."""
    if not len(rois):
        return torch.zeros((0, 5), dtype=dtype, device=device)
    idx = [torch.full((len(r), 1), i, dtype=dtype, device=r.device) for i, r in enumerate(rois)]
    return torch.cat([torch.cat([i, r.to(dtype)], 1) for i, r in zip(idx, rois)])


def crop_level(
    fmap: Tensor, rows: Tensor, out: int, stride: float, roi: str, sampling: int = 2
) -> Tensor:
    """``rows (K, 5)`` (see :func:`roi_rows`) of one ``(N, C, h, w)`` map at ``stride`` as
    ``(K, C, out, out)``: RoIAlign (``roi="align"``, ``aligned=True``, ``sampling`` bilinear
    samples per bin side, averaged) or RoIPool (``"pool"``: max over the quantised bin)."""
    if roi == "align":
        return roi_align(fmap, rows, out, 1.0 / stride, sampling_ratio=sampling, aligned=True)
    return roi_pool(fmap, rows, out, 1.0 / stride)


def pyramid_levels(boxes: Tensor, strides: Sequence[int], canonical: float) -> Tensor:
    """``int64 (K,)``: the pyramid level (index into ``strides``, finest first, doubling) each
    ``xyxy`` box is read from. FPN's rule ``k = floor(4 + log2(sqrt(w h) / canonical))`` (the
    paper's canonical 224 at stride 16), counted from the finest level and clamped to the
    pyramid."""
    side = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).clamp(min=1e-6).sqrt()
    k = torch.floor(4 + torch.log2(side / canonical) + 1e-6)
    first = math.log2(strides[0])
    return (k - first).clamp(0, len(strides) - 1).long()
