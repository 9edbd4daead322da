"""Detection diagnostics beyond AP: precision-recall curves per class from COCO's accumulated
arrays, F1 against the confidence threshold, a confusion matrix with a background row and
column, and errors per image.

Inputs are those of :func:`regionlab.eval.detection.coco_evaluate`: per-image
:class:`~regionlab.ops.detections.Detections` (``boxes`` ``xyxy`` pixels, ``labels`` ``1 ..
C-1`` indexing ``classes``, ``classes[0]`` the background; ``scores`` on predictions). The
matching here (F1, confusion, errors) is greedy by score at one box IoU, crowds counted as
ordinary objects; AP and the PR curves are COCO's own.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torchvision.ops import box_iou

from regionlab.eval.detection import IouType, coco_evaluate
from regionlab.ops.detections import Detections


@dataclass
class PRCurves:
    """``precision`` ``float (T, R, K)``: COCO's precision at IoU ``ious[t]``, recall
    ``recall[r]`` and class ``names[k]`` (area all, the largest max-dets); ``nan`` where a
    class has no ground truth. ``ap_by_area`` ``{area: [AP of class k]}`` (IoU .50:.95)."""

    ious: list[float]
    recall: list[float]
    names: list[str]
    precision: np.ndarray
    ap_by_area: dict[str, list[float]]

    def at(self, iou: float) -> np.ndarray:
        """``(R, K)`` precision at the IoU threshold ``iou`` (e.g. 0.5, 0.75)."""
        t = int(np.flatnonzero(np.isclose(self.ious, iou))[0])
        return self.precision[t]


def pr_curves(
    predictions: Sequence[Detections],
    targets: Sequence[Detections],
    image_sizes: Sequence[tuple[int, int]],
    classes: Sequence[str],
    iou_type: IouType = "bbox",
) -> PRCurves:
    """COCO's precision arrays as curves (see :class:`PRCurves`)."""
    ev = coco_evaluate(predictions, targets, image_sizes, classes, iou_type=iou_type, arrays=True)
    prec = np.asarray(ev.eval["precision"], dtype=np.float64)  # (T, R, K, A, M)
    prec = np.where(prec < 0, np.nan, prec)
    p = ev.params
    names = [classes[c] for c in p.catIds]  # category id = label here
    by_area = {}
    for a, label in enumerate(p.areaRngLbl):
        with warnings.catch_warnings():  # a class without objects of that size: nan
            warnings.simplefilter("ignore", RuntimeWarning)
            per_class = np.nanmean(prec[:, :, :, a, -1], axis=(0, 1)) if prec.size else []
        by_area[str(label)] = [float(v) for v in per_class]
    return PRCurves(
        [float(t) for t in p.iouThrs],
        [float(r) for r in p.recThrs],
        names,
        prec[:, :, :, 0, -1],
        by_area,
    )


@dataclass
class Matched:
    """Every prediction of one class run through greedy matching at one IoU: ``scores``
    ``(P,)``, ``hit`` ``bool (P,)``; ``n_true`` objects of that class."""

    scores: np.ndarray
    hit: np.ndarray
    n_true: int


def _iou(a: Detections, b: Detections) -> torch.Tensor:
    if len(a) == 0 or len(b) == 0:
        return torch.zeros(len(a), len(b))
    return box_iou(a.boxes.float().cpu(), b.boxes.float().cpu())


def _greedy(iou: torch.Tensor, thr: float) -> list[int]:
    """For each prediction (rows, best score first), the object it takes (``-1``: none)."""
    taken: set[int] = set()
    out = []
    for row in iou.tolist():
        best, j = thr, -1
        for k, v in enumerate(row):
            if k not in taken and v >= best:
                best, j = v, k
        if j >= 0:
            taken.add(j)
        out.append(j)
    return out


def _sorted(d: Detections) -> Detections:
    return d[d.scores.argsort(descending=True)] if len(d) else d


def match_by_class(
    predictions: Sequence[Detections],
    targets: Sequence[Detections],
    num_classes: int,
    iou: float = 0.5,
) -> dict[int, Matched]:
    """Class-aware greedy matching (best score first, IoU >= ``iou``), per label ``1..C-1``."""
    out = {}
    for c in range(1, num_classes):
        scores, hits, n_true = [], [], 0
        for p, t in zip(predictions, targets):
            p, t = _sorted(p[p.labels == c]), t[t.labels == c]
            n_true += len(t)
            taken = _greedy(_iou(p, t), iou)
            scores += p.scores.tolist()
            hits += [j >= 0 for j in taken]
        out[c] = Matched(np.asarray(scores, dtype=np.float64), np.asarray(hits, bool), n_true)
    return out


def f1_confidence(matched: dict[int, Matched], thresholds: np.ndarray) -> dict[int, np.ndarray]:
    """F1 ``(len(thresholds),)`` per class at each confidence threshold, and ``0`` for all
    classes pooled; a class without objects or predictions is left out."""
    pooled = Matched(
        np.concatenate([m.scores for m in matched.values()] or [np.zeros(0)]),
        np.concatenate([m.hit for m in matched.values()] or [np.zeros(0, bool)]),
        sum(m.n_true for m in matched.values()),
    )
    out = {}
    for c, m in {**matched, 0: pooled}.items():
        if m.n_true == 0 and len(m.scores) == 0:
            continue
        kept = m.scores[None, :] >= thresholds[:, None]  # (T, P)
        tp = (kept & m.hit[None, :]).sum(1)
        fp = kept.sum(1) - tp
        fn = m.n_true - tp
        out[c] = np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    return out


def confusion(
    predictions: Sequence[Detections],
    targets: Sequence[Detections],
    num_classes: int,
    iou: float = 0.5,
    conf: float = 0.25,
) -> np.ndarray:
    """``int (C, C)`` counts ``[true, predicted]`` over labels ``1..C-1`` and the background
    at index 0: predictions of score >= ``conf`` matched to objects whatever their class
    (greedy by score, IoU >= ``iou``); an object left unmatched counts as ``[class, 0]``
    (missed), a prediction left unmatched as ``[0, class]`` (false alarm)."""
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    for p, t in zip(predictions, targets):
        p = _sorted(p[p.scores >= conf])
        taken = _greedy(_iou(p, t), iou)
        for i, j in enumerate(taken):
            true = int(t.labels[j]) if j >= 0 else 0
            m[true, int(p.labels[i])] += 1
        for j in set(range(len(t))) - set(taken):
            m[int(t.labels[j]), 0] += 1
    return m


def errors_per_image(
    predictions: Sequence[Detections],
    targets: Sequence[Detections],
    iou: float = 0.5,
    conf: float = 0.25,
) -> list[int]:
    """Missed objects plus false alarms (class-aware, score >= ``conf``) of each image."""
    out = []
    for p, t in zip(predictions, targets):
        p = p[p.scores >= conf]
        errors = 0
        for c in set(p.labels.tolist()) | set(t.labels.tolist()):
            pc, tc = _sorted(p[p.labels == c]), t[t.labels == c]
            hits = sum(j >= 0 for j in _greedy(_iou(pc, tc), iou))
            errors += (len(pc) - hits) + (len(tc) - hits)
        out.append(errors)
    return out
