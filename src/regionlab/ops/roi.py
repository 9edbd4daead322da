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
    within that pixel reads the nearest edge (coordinates clamped, then ``border`` sampling)."""
    n, c, h, w = fmap.shape
    k, side = len(rows), out * sampling
    if k == 0:
        return fmap.new_zeros((0, c, out, out))
    r = rows.to(fmap.dtype)
    # pixel-centre coordinates of every sample: (K, side) along x and along y
    at = (torch.arange(side, dtype=fmap.dtype, device=fmap.device) + 0.5) / sampling
    xs = r[:, 1:2] * scale - 0.5 + at * ((r[:, 3:4] - r[:, 1:2]) * scale / out)
    ys = r[:, 2:3] * scale - 0.5 + at * ((r[:, 4:5] - r[:, 2:3]) * scale / out)
    inside = ((ys >= -1) & (ys <= h))[:, :, None] & ((xs >= -1) & (xs <= w))[:, None, :]
    gx = xs.clamp(0, w - 1) * (2 / max(w - 1, 1)) - 1  # align_corners: -1, 1 = edge centres
    gy = ys.clamp(0, h - 1) * (2 / max(h - 1, 1)) - 1
    grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), -1)
    image = rows[:, 0].long()
    order = image.argsort(stable=True)
    counts = torch.bincount(image, minlength=n).tolist()
    parts = []
    for i, rois in enumerate(grid[order].split(counts)):  # one call per image's regions
        if len(rois):
            g = rois.reshape(1, len(rois) * side, side, 2)
            s = F.grid_sample(fmap[i : i + 1], g, "bilinear", "border", align_corners=True)
            parts.append(s.reshape(c, len(rois), side, side).transpose(0, 1))
    samples = torch.empty((k, c, side, side), dtype=fmap.dtype, device=fmap.device)
    samples[order] = torch.cat(parts) * inside[order, None].to(fmap.dtype)
    return F.avg_pool2d(samples, sampling) if sampling > 1 else samples


def pyramid_levels(boxes: Tensor, strides: Sequence[int], canonical: float) -> Tensor:
    """``int64 (K,)``: the pyramid level (index into ``strides``, finest first, doubling) each
    ``xyxy`` box is read from. FPN's rule ``k = floor(4 + log2(sqrt(w h) / canonical))`` (the
    paper's canonical 224 at stride 16), counted from the finest level and clamped to the
    pyramid."""
    side = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).clamp(min=1e-6).sqrt()
    k = torch.floor(4 + torch.log2(side / canonical) + 1e-6)
    first = math.log2(strides[0])
    return (k - first).clamp(0, len(strides) - 1).long()
