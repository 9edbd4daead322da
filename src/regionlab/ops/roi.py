"""Region-of-interest geometry: how a region is grown, squared, batched and read from a map.

Boxes are ``xyxy`` pixels of the input tensor. RoIAlign and RoIPool are torchvision's
(:func:`torchvision.ops.roi_align`, :func:`torchvision.ops.roi_pool`); what is ours is which
part of which map a region reads, and :func:`roi_align_sampled`, the same RoIAlign as bilinear
``grid_sample`` for training: torchvision's CPU backward scatters every sample's gradient one
at a time and took a fifth of a two-stage detector's training step; and with one sample per
bin, :func:`roi_align_gathered`: every level's regions read at once from one channels-last
table of rows, each cell a weighted sum of four rows, and its gradient the transposed sum.
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
    "crop_levels",
    "expand_boxes",
    "pyramid_levels",
    "roi_align_gathered",
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
        if _training(fmap, sampling):
            if sampling == 1:
                return roi_align_gathered([fmap], rows, _first_level(rows), out, [stride])
            return roi_align_sampled(fmap, rows, out, 1.0 / stride, sampling)
        return roi_align(fmap, rows, out, 1.0 / stride, sampling_ratio=sampling, aligned=True)
    return roi_pool(fmap, rows, out, 1.0 / stride)


def crop_levels(maps: Sequence[Tensor], rows: Tensor, level: Tensor, out: int,
                strides: Sequence[float], roi: str, sampling: int = 2) -> Tensor:  # fmt: skip
    """Each of ``rows (K, 5)`` read as :func:`crop_level` does from its own level ``level
    (K,)`` of ``maps`` (finest first, at ``strides``): ``(K, C, out, out)`` in row order."""
    if roi == "align" and sampling == 1 and _training(maps[0], sampling):
        return roi_align_gathered(maps, rows, level, out, strides)  # every level in one read
    # Regions grouped by level (stable: still by image within a level), read a level at a
    # time, then put back in order by one gather (its backward one scatter), not by a write
    # into a full-size result per level.
    order = level.argsort(stable=True)
    counts = torch.bincount(level, minlength=len(maps)).tolist()
    crops = [
        crop_level(fmap, part, out, stride, roi, sampling)
        for fmap, stride, part in zip(maps, strides, rows[order].split(counts))
        if len(part)
    ]
    return torch.cat(crops).index_select(0, order.argsort())


def _training(fmap: Tensor, sampling: int) -> bool:
    # torchvision's roi_align where no gradient is wanted (and for its adaptive sampling)
    return sampling > 0 and fmap.requires_grad and torch.is_grad_enabled()


def _first_level(rows: Tensor) -> Tensor:
    return torch.zeros(len(rows), dtype=torch.int64, device=rows.device)


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


def roi_align_gathered(maps: Sequence[Tensor], rows: Tensor, level: Tensor, out: int,
                       strides: Sequence[float]) -> Tensor:  # fmt: skip
    """Every region ``k`` as torchvision's ``roi_align(maps[level[k]], rows[k], out, 1 /
    strides[level[k]], sampling_ratio=1, aligned=True)`` (equal in float64 to 1e-12), for
    training: the maps ``(N, C, H_l, W_l)`` as one table of ``C``-float rows (a view of a
    single channels-last map), and each output cell the weighted sum of the four rows about
    its sample (:func:`~torch.nn.functional.embedding_bag`, one fused pass; its gradient
    the same sum over the transposed weights, see :class:`_WeightedRows`), where
    grid_sample's CPU backward walks one channel plane at a time. Mask R-CNN's 1,024 box
    regions at 320 px, 2 threads, forward and backward: 15 ms, against 31 by four separate
    gathers and 32 by grid_sample on the finest level alone. ``rows (K, 5)`` of
    :func:`roi_rows`, ``level int64 (K,)`` -> ``(K, C, out, out)``, channels-last memory, in
    float32 at least (as ``grid_sample`` under autocast)."""
    n, c = maps[0].shape[:2]
    dtype = torch.promote_types(maps[0].dtype, torch.float32)
    if len(rows) == 0:
        return maps[0].new_zeros((0, c, out, out), dtype=dtype)
    flat = [m.permute(0, 2, 3, 1).reshape(-1, c) for m in maps]
    table = (flat[0] if len(flat) == 1 else torch.cat(flat)).to(dtype)
    hw = torch.tensor([m.shape[2:] for m in maps], device=rows.device)  # (L, 2) h, w
    cells = hw[:, 0] * hw[:, 1] * n
    first = (cells.cumsum(0) - cells)[level] + rows[:, 0].long() * (hw[level, 0] * hw[level, 1])
    r = rows.to(dtype)
    scale = 1.0 / torch.tensor(strides, dtype=dtype, device=rows.device)[level]
    x0, x1, wx0, wx1 = _taps(r[:, 1], r[:, 3], scale, hw[level, 1], out)
    y0, y1, wy0, wy1 = _taps(r[:, 2], r[:, 4], scale, hw[level, 0], out)
    width = hw[level, 1][:, None, None]
    at, weight = [], []  # each (K, out, out): one of the four rows of every cell, its weight
    for y, wy in ((y0, wy0), (y1, wy1)):
        for x, wx in ((x0, wx0), (x1, wx1)):
            at.append(first[:, None, None] + y[:, :, None] * width + x[:, None, :])
            weight.append(wy[:, :, None] * wx[:, None, :])
    sampled = _WeightedRows.apply(table, torch.stack(at, -1).view(-1, 4),
                                  torch.stack(weight, -1).view(-1, 4))  # fmt: skip
    return sampled.view(len(rows), out, out, c).permute(0, 3, 1, 2)


class _WeightedRows(torch.autograd.Function):
    """``table (T, C)``, ``at int64 (M, B)``, ``weight (M, B)`` -> ``(M, C)``: each output
    row the ``weight``-ed sum of its ``B`` rows of ``table``. The gradient of ``table`` is
    the same kind of sum, each table row over the output rows that read it: ``at`` sorted
    into one bag per table row (empty bags sum to 0). autograd's own backward of
    ``embedding_bag`` took 25 ms for 50,176 x 4 rows of 64 floats, this 6.5."""

    @staticmethod
    def forward(ctx, table: Tensor, at: Tensor, weight: Tensor) -> Tensor:
        ctx.save_for_backward(at, weight)
        ctx.rows = len(table)
        return F.embedding_bag(at, table, per_sample_weights=weight, mode="sum")

    @staticmethod
    def backward(ctx, grad: Tensor):
        at, weight = ctx.saved_tensors
        flat = at.flatten()
        order = flat.argsort()
        counts = torch.bincount(flat, minlength=ctx.rows)
        grad_table = F.embedding_bag(order // at.shape[1], grad.contiguous(),
                                     counts.cumsum(0) - counts, mode="sum",
                                     per_sample_weights=weight.flatten()[order])  # fmt: skip
        return grad_table, None, None


def _taps(lo: Tensor, hi: Tensor, scale: Tensor, size: Tensor, out: int):
    """Along one axis, the bin centres of ``(K,)`` regions from ``lo`` to ``hi`` (pixels) on
    maps of ``size (K,)`` cells at ``scale``: the two cells each reads ``(K, out)`` and their
    bilinear weights, by RoIAlign's border rule (0 beyond a one-pixel margin, the edge cell
    within it)."""
    at = torch.arange(out, dtype=lo.dtype, device=lo.device) + 0.5
    v = (lo * scale - 0.5)[:, None] + at * ((hi - lo) * scale / out)[:, None]
    last = (size - 1)[:, None].to(v.dtype)
    valid = ((v >= -1) & (v <= last + 1)).to(v.dtype)
    v = v.clamp(min=0)
    v0 = torch.minimum(v.floor(), last)
    edge = v0 >= last
    frac = torch.where(edge, torch.zeros_like(v), v - v0)
    v1 = torch.where(edge, v0, v0 + 1)
    return v0.long(), v1.long(), (1 - frac) * valid, frac * valid


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
