"""COCO keypoints: an annotation's flat ``[x1, y1, v1, ...]`` list and a category's skeleton,
checked against the image and the category's keypoint names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from regionlab.data.checks import BOX_TOLERANCE, numbers
from regionlab.data.errors import DataError


def check_keypoints(
    values: Any,
    names: list[str],
    h: int,
    w: int,
    *,
    source: str | Path,
    where: str,
    tol: float = BOX_TOLERANCE,
) -> np.ndarray:
    """``float32 (K, 3)`` keypoints ``(x, y, v)`` of one annotation, ``K = len(names)``.

    ``values`` is COCO's flat list of ``3 K`` numbers. Raises :class:`DataError` for another
    length, a non-number, a visibility other than 0 (unlabelled), 1 (occluded) or 2 (visible),
    or a labelled keypoint (``v > 0``) more than ``tol`` pixels outside the ``w`` x ``h`` image
    (an unlabelled one's coordinates mean nothing and are kept as written).
    """
    k = len(names)
    flat = numbers(values, 3 * k, "keypoints", source=source, where=where)
    kps = np.asarray(flat, dtype=np.float32).reshape(k, 3)
    for j, (x, y, v) in enumerate(kps):
        if v not in (0, 1, 2):
            raise DataError(
                source,
                f"keypoint {j} has visibility {v:g}; COCO allows "
                "0 (unlabelled), 1 (occluded), 2 (visible)",
                where,
            )
        if v > 0 and not (-tol <= x <= w + tol and -tol <= y <= h + tol):
            raise DataError(
                source,
                f"keypoint {j} ({names[j]}) at ({x:g}, {y:g}) lies outside the {w}x{h} image",
                where,
            )
    return kps


def keypoint_names(category: dict, *, source: str | Path) -> list[str]:
    """A category's keypoint names (``[]`` when it lists none); anything but a list of strings
    is refused, naming the category."""
    names = category.get("keypoints") or []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DataError(
            source,
            f"keypoints must be a list of keypoint names, got {names!r}",
            f"category id {category['id']}",
        )
    return names


def check_skeleton(skeleton: Any, k: int, *, source: str | Path, where: str) -> list[list[int]]:
    """COCO's 1-based skeleton edges as 0-based pairs of keypoint indices below ``k``."""
    if skeleton is None:
        return []
    ok = isinstance(skeleton, list) and all(
        isinstance(e, list) and len(e) == 2 and all(_is_int(i) for i in e) for e in skeleton
    )
    if not ok:
        raise DataError(
            source, f"skeleton must be a list of [a, b] keypoint numbers, got {skeleton!r}", where
        )
    for edge in skeleton:
        if not all(1 <= i <= k for i in edge):
            raise DataError(
                source,
                f"skeleton edge {edge} names a keypoint outside 1..{k} (COCO's skeleton is 1-based)",
                where,
            )
    return [[a - 1, b - 1] for a, b in skeleton]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
