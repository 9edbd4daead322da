"""Anchor boxes: a fixed set of reference boxes centred on every cell of a feature map.

A feature map of size ``(h, w)`` with stride ``s`` (input pixels per cell) has cell ``(i, j)``
(row ``i``, column ``j``) covering input pixels ``[j * s, (j + 1) * s) x [i * s, (i + 1) * s)``;
its centre is ``((j + 0.5) * s, (i + 0.5) * s)``. Every cell gets the same ``A`` anchors
around that centre. A grid (single-shot) detector predicts ``A`` boxes per cell from them; an
RPN scores and refines each one.

Anchors are ``xyxy`` in input-image pixels, unrounded and not clipped to the image (the RPN
clips its proposals; clipping anchors would change their size and centre).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["grid_centres", "AnchorGenerator"]


def grid_centres(
    feature_size: tuple[int, int],
    stride: float,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """Pixel centres of the cells of an ``(h, w)`` feature map.

    Returns:
        ``(h * w, 2)`` ``(x, y) = ((j + 0.5) * stride, (i + 0.5) * stride)``, row-major: row
        ``i * w + j`` is cell ``(i, j)``.
    """
    h, w = feature_size
    xs = (torch.arange(w, device=device, dtype=dtype) + 0.5) * stride
    ys = (torch.arange(h, device=device, dtype=dtype) + 0.5) * stride
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((x.reshape(-1), y.reshape(-1)), dim=1)


class AnchorGenerator:
    """Per-level anchors from sizes, aspect ratios and strides (one entry per feature level).

    Level ``l`` has ``A_l = len(sizes[l]) * len(aspect_ratios[l])`` anchors per cell, one per
    ``(size, ratio)`` pair, sizes outer and ratios inner: ``(s0, r0), (s0, r1), ..., (s1, r0),
    ...``. The aspect ratio is ``height / width`` and every anchor keeps the area ``size ** 2``::

        width = size / sqrt(ratio)        height = size * sqrt(ratio)

    so ratio ``0.5`` is a wide box and ``2`` a tall one. Anchors are centred exactly on cell
    centres (:func:`grid_centres`), without torchvision's rounding of the base anchors.

    Example: Faster R-CNN with one level, ``sizes=((128, 256, 512),)``,
    ``aspect_ratios=((0.5, 1.0, 2.0),)``, ``strides=(16,)``; with an FPN, one size per level,
    ``sizes=((32,), (64,), (128,), (256,), (512,))``, ``aspect_ratios=((0.5, 1.0, 2.0),) * 5``,
    ``strides=(4, 8, 16, 32, 64)``.
    """

    def __init__(
        self,
        sizes: Sequence[Sequence[float]],
        aspect_ratios: Sequence[Sequence[float]],
        strides: Sequence[float],
    ) -> None:
        if not (len(sizes) == len(aspect_ratios) == len(strides)) or len(sizes) == 0:
            raise ValueError(
                f"sizes, aspect_ratios and strides need one entry per level, got {len(sizes)}, "
                f"{len(aspect_ratios)} and {len(strides)}"
            )
        for level, (ss, rs, st) in enumerate(zip(sizes, aspect_ratios, strides)):
            if not ss or not rs or min(ss) <= 0 or min(rs) <= 0 or st <= 0:
                raise ValueError(
                    f"level {level}: sizes, aspect ratios and stride must be non-empty and "
                    f"positive, got {tuple(ss)}, {tuple(rs)}, {st}"
                )
        self.sizes = tuple(tuple(float(s) for s in ss) for ss in sizes)
        self.aspect_ratios = tuple(tuple(float(r) for r in rs) for rs in aspect_ratios)
        self.strides = tuple(float(s) for s in strides)
        self.cell_anchors = [
            _cell_anchors(ss, rs) for ss, rs in zip(self.sizes, self.aspect_ratios)
        ]

    @property
    def num_levels(self) -> int:
        return len(self.strides)

    def num_anchors_per_location(self) -> list[int]:
        """``A_l`` for each level: the number of anchors per cell (the head's box count)."""
        return [a.shape[0] for a in self.cell_anchors]

    def shared_per_cell(self) -> int:
        """The one number of anchors per cell of every level, for a head whose layers serve
        every level (the RPN, the grid's anchor head); an error if levels differ."""
        per_cell = self.num_anchors_per_location()
        if len(set(per_cell)) != 1:
            raise ValueError(
                f"one head serves every level: give each level the same number of anchors per "
                f"cell, got {per_cell}"
            )
        return per_cell[0]

    def level_anchors(
        self,
        level: int,
        feature_size: tuple[int, int],
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Tensor:
        """Anchors of one level on an ``(h, w)`` feature map.

        Returns:
            ``(h * w * A, 4)`` ``xyxy`` pixels; row ``(i * w + j) * A + a`` is anchor ``a`` of
            cell ``(i, j)`` -- the order of a head output ``(A * k, h, w)`` permuted to
            ``(h, w, A, k)`` and flattened.
        """
        # Built in float64 on the CPU so every device and dtype gets the same rounded values.
        centres = grid_centres(feature_size, self.strides[level], "cpu", torch.float64)
        anchors = centres.repeat(1, 2)[:, None, :] + self.cell_anchors[level][None, :, :]
        return anchors.reshape(-1, 4).to(device=device, dtype=dtype)

    def __call__(
        self,
        feature_sizes: Sequence[tuple[int, int]],
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> list[Tensor]:
        """Anchors of every level: ``feature_sizes[l] = (h_l, w_l)``.

        Returns:
            One ``(h_l * w_l * A_l, 4)`` tensor per level, as :meth:`level_anchors`.
        """
        if len(feature_sizes) != self.num_levels:
            raise ValueError(f"expected {self.num_levels} feature sizes, got {len(feature_sizes)}")
        return [
            self.level_anchors(level, tuple(size), device, dtype)
            for level, size in enumerate(feature_sizes)
        ]


def _cell_anchors(sizes: Sequence[float], ratios: Sequence[float]) -> Tensor:
    """``float64 (A, 4)`` offsets ``(-w/2, -h/2, w/2, h/2)`` from a cell centre."""
    offsets = []
    for size in sizes:
        for ratio in ratios:
            w, h = size / math.sqrt(ratio), size * math.sqrt(ratio)
            offsets.append([-w / 2, -h / 2, w / 2, h / 2])
    return torch.tensor(offsets, dtype=torch.float64)
