"""Mask <-> COCO run-length encoding <-> polygon, on faster-coco-eval's mask API.

Masks are ``bool (H, W)`` tensors. An RLE is COCO's ``{"size": [H, W], "counts": ...}``: here
produced with compressed ``counts`` as a ``str`` (JSON-ready); compressed (``str``/``bytes``) and
uncompressed (list of run lengths, column-major) RLEs are both accepted as input. Polygons are
COCO's: a list of parts, each a flat ``[x1, y1, x2, y2, ...]`` list in pixel coordinates.
"""

from __future__ import annotations

from collections.abc import Sequence

import faster_coco_eval.core.mask as mask_api
import numpy as np
import torch

__all__ = ["mask_to_rle", "rle_to_mask", "polygons_to_mask"]


def mask_to_rle(mask: torch.Tensor) -> dict:
    """Compressed RLE ``{"size": [H, W], "counts": str}`` of a ``bool (H, W)`` mask."""
    if mask.dim() != 2:
        raise ValueError(f"mask must be (H, W), got {tuple(mask.shape)}")
    arr = np.asfortranarray(mask.detach().cpu().numpy().astype(np.uint8))
    rle = mask_api.encode(arr)
    counts = rle["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    return {"size": [int(s) for s in rle["size"]], "counts": counts}


def rle_to_mask(rle: dict) -> torch.Tensor:
    """``bool (H, W)`` mask of a compressed or uncompressed RLE (``H, W`` from ``rle["size"]``)."""
    h, w = (int(s) for s in rle["size"])
    if isinstance(rle["counts"], list):  # uncompressed -> compressed
        rle = mask_api.frPyObjects(rle, h, w)
    m = mask_api.decode(rle)
    return torch.from_numpy(np.ascontiguousarray(m, dtype=bool)).reshape(h, w)


def polygons_to_mask(polys: Sequence[Sequence[float]], h: int, w: int) -> torch.Tensor:
    """``bool (h, w)`` mask covered by the union of the COCO polygon parts ``polys``.

    Rasterised as COCO does (pixel ``(x, y)`` covers ``[x, x + 1) x [y, y + 1)``); no parts gives
    an empty mask.
    """
    parts = [list(map(float, p)) for p in polys]
    for j, p in enumerate(parts):
        if len(p) % 2 or len(p) < 6:
            raise ValueError(f"polygon {j} needs at least 3 (x, y) points, got {len(p)} values")
    if not parts:
        return torch.zeros((h, w), dtype=torch.bool)
    return rle_to_mask(mask_api.merge(mask_api.frPyObjects(parts, h, w)))
