"""COCO segmentations: checked against their image (polygons, uncompressed and compressed RLE),
decoded to masks, and painted into a per-pixel label map."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faster_coco_eval.core.mask as mask_api
import numpy as np
import torch

from regionlab.data.checks import numbers
from regionlab.data.errors import DataError
from regionlab.data.sample import IGNORE_INDEX


def check_segm(segm: Any, h: int, w: int, *, source: str | Path, where: str) -> Any:
    """A validated segmentation of an ``h`` x ``w`` image: polygons as lists of floats, an RLE as
    ``{"size": [h, w], "counts": ...}``, ``None`` when absent (``None`` or ``[]``).

    Nothing is decoded except a compressed RLE string, which can only be checked by decoding it
    (cheap: no image pixels involved), so ``skip_bad`` still catches it before training.
    """
    if segm is None or segm == []:
        return None
    if isinstance(segm, list):
        return [_polygon(poly, j, source=source, where=where) for j, poly in enumerate(segm)]
    if not isinstance(segm, dict) or "counts" not in segm or "size" not in segm:
        raise DataError(source, "segmentation must be polygons or an RLE {'counts', 'size'}", where)
    if not isinstance(segm["size"], list) or segm["size"] != [h, w]:
        transposed = " (written as [W, H]?)" if segm["size"] == [w, h] else ""
        raise DataError(
            source,
            f"RLE size {segm['size']!r} differs from the image size [{h}, {w}] (H, W){transposed}",
            where,
        )
    counts = segm["counts"]
    if isinstance(counts, list):
        ok = all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts)
        if not ok or sum(counts) != h * w:
            raise DataError(
                source,
                f"uncompressed RLE counts must be non-negative integers summing to H*W = {h * w}",
                where,
            )
        return {"size": [h, w], "counts": counts}
    if not isinstance(counts, str):
        raise DataError(source, "RLE counts must be a list or a string", where)
    decode_segm({"size": [h, w], "counts": counts}, h, w, source=source, where=where)
    return {"size": [h, w], "counts": counts}


def _polygon(poly: Any, j: int, *, source: str | Path, where: str) -> list[float]:
    pts = numbers(poly, None, f"polygon {j}", source=source, where=where)
    if len(pts) % 2:
        raise DataError(
            source,
            f"polygon {j} has an odd number of coordinates ({len(pts)}); it must list x, y pairs",
            where,
        )
    if len(pts) < 6:
        raise DataError(
            source, f"polygon {j} needs at least 3 (x, y) points, got {len(pts)} values", where
        )
    return pts


def decode_segm(segm: Any, h: int, w: int, *, source: str | Path, where: str) -> np.ndarray:
    """Decode validated polygons / RLE to a ``bool (H, W)`` mask."""
    try:
        if isinstance(segm, list):  # polygons: one RLE per part, merged into one mask
            rle = mask_api.merge(mask_api.frPyObjects(segm, h, w))
        elif isinstance(segm["counts"], list):  # uncompressed RLE -> compressed
            rle = mask_api.frPyObjects(segm, h, w)
        else:  # compressed RLE: decode takes it as is
            rle = segm
        m = mask_api.decode(rle)
    except (ValueError, RuntimeError, TypeError) as e:
        raise DataError(source, f"cannot decode segmentation: {e}", where) from e
    return np.ascontiguousarray(m, dtype=bool)


def semantic(masks: torch.Tensor, labels: torch.Tensor, iscrowd: torch.Tensor) -> torch.Tensor:
    """Per-pixel label ``int64 (H, W)`` of ``bool (N, H, W)`` masks: later instances over earlier
    ones; crowd regions last, as ``IGNORE_INDEX``."""
    out = torch.zeros(masks.shape[1:], dtype=torch.int64)
    for m, label, crowd in zip(masks, labels, iscrowd, strict=True):
        if not crowd:
            out[m] = label
    for m, crowd in zip(masks, iscrowd, strict=True):
        if crowd:
            out[m] = IGNORE_INDEX
    return out
