"""Region-of-interest geometry: how a region is grown, squared, batched and read from a map.

Boxes are ``xyxy`` pixels of the input tensor. RoIAlign and RoIPool are torchvision's
(:func:`torchvision.ops.roi_align`, :func:`torchvision.ops.roi_pool`); what is ours is which
part of which map a region reads, and :func:`roi_align_sampled`, the same RoIAlign as bilinear
``grid_sample`` for training: torchvision's CPU backward scatters every sample's gradient one
at a time and took a fifth of a two-stage detector's training step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import roi_align, roi_pool

__all__ = [
    "crop_level",
    "expand_boxes",
    "pyramid_levels",
    "roi_align_sampled",
    "roi_rows",
    "square_boxes",
]


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
        if sampling > 0 and fmap.requires_grad and torch.is_grad_enabled():
            return roi_align_sampled(fmap, rows, out, 1.0 / stride, sampling)  # (training)
        return roi_align(fmap, rows, out, 1.0 / stride, sampling_ratio=sampling, aligned=True)
    return roi_pool(fmap, rows, out, 1.0 / stride)


def roi_align_sampled(fmap: Tensor, rows: Tensor, out: int, scale: float, sampling: int) -> Tensor:
    """torchvision's ``roi_align(fmap, rows, out, scale, sampling, aligned=True)`` as bilinear
    :func:`~torch.nn.functional.grid_sample` (equal in float64 to 1e-12; float32: rounding of
    the coordinates' normalisation, about 1e-5 on a unit-variance map), whose CPU backward is
    vectorised. ``fmap (N, C, H, W)``, ``rows (K, 5)`` of :func:`roi_rows` -> ``(K, C, out,
    out)``; ``sampling`` (``> 0``) samples per bin side at the sub-bin centres, averaged.

    RoIAlign's border rule, kept: a sample more than one pixel outside the map reads 0; one
    within that pixel reads the nearest edge (its coordinates clamped onto the map)."""
    n, c, h, w = fmap.shape
    k, side = len(rows), out * sampling
    if k == 0:
        return fmap.new_zeros((0, c, out, out))
    r = rows.to(fmap.dtype)
    # pixel-centre coordinates of every sample: (K, side) along x and along y
    at = (torch.arange(side, dtype=fmap.dtype, device=fmap.device) + 0.5) / sampling
    xs = r[:, 1:2] * scale - 0.5 + at * ((r[:, 3:4] - r[:, 1:2]) * scale / out)
    ys = r[:, 2:3] * scale - 0.5 + at * ((r[:, 4:5] - r[:, 2:3]) * scale / out)
    # A sample beyond the one-pixel margin goes far outside the map, where zero padding reads
    # 0; the rest are clamped onto the map, so the padding never reaches them (no mask to
    # multiply by: that pass over every sample was a tenth of the read).
    gx = _normalised(xs, w)
    gy = _normalised(ys, h)
    grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), -1)
    # Every image's regions in one grid_sample call, padded to the busiest image's count
    # (padding reads 0 and is never gathered): one call, and one gradient for the whole map
    # rather than a zero-filled full-size gradient per image's slice of it.
    image = rows[:, 0].long()
    counts = torch.bincount(image, minlength=n)
    most = int(counts.max())
    order = image.argsort(stable=True)
    slot = torch.empty_like(image)
    slot[order] = torch.arange(k, device=image.device) - (counts.cumsum(0) - counts)[image[order]]
    padded = grid.new_full((n, most, side, side, 2), -3.0)
    padded[image, slot] = grid
    s = F.grid_sample(fmap, padded.view(n, most * side, side, 2), "bilinear", "zeros",
                      align_corners=False)  # fmt: skip
    s = F.avg_pool2d(s, sampling) if sampling > 1 else s  # (N, C, most out, out)
    flat = s.view(n, c, most, out, out).transpose(1, 2).reshape(n * most, c, out, out)
    at = image * most + slot
    if k == n * most and bool((at == torch.arange(k, device=at.device)).all()):
        return flat  # (training's usual case: the same count per image, in image order)
    return flat.index_select(0, at)


def _normalised(v: Tensor, size: int) -> Tensor:
    """Sample coordinates ``v`` (pixels, along a side of ``size``) as ``grid_sample``'s
    coordinates (``align_corners=False``: ``-1``, ``1`` = the outer edges of the edge pixels):
    clamped onto the map within one pixel of it, ``-3`` (a pixel or more outside: reads 0)
    beyond. (With ``align_corners=True`` a one-pixel side maps every coordinate to its one
    pixel, so nothing would lie outside.)"""
    inside = (v >= -1) & (v <= size)
    on_map = (2 * v.clamp(0, size - 1) + 1) / size - 1
    return torch.where(inside, on_map, torch.full_like(v, -3.0))


def pyramid_levels(boxes: Tensor, strides: Sequence[int], canonical: float) -> Tensor:
    """``int64 (K,)``: the pyramid level (index into ``strides``, finest first, doubling) each
    ``xyxy`` box is read from. FPN's rule ``k = floor(4 + log2(sqrt(w h) / canonical))`` (the
    paper's canonical 224 at stride 16), counted from the finest level and clamped to the
    pyramid."""
    side = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).clamp(min=1e-6).sqrt()
    k = torch.floor(4 + torch.log2(side / canonical) + 1e-6)
    first = math.log2(strides[0])
    return (k - first).clamp(0, len(strides) - 1).long()
