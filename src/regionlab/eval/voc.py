"""Pascal VOC detection AP: per class, detections of all images ranked by score and matched
greedily to the objects at an IoU threshold (the devkit's test), with VOC2007's 11-point or
VOC2010's all-point interpolation.

Inputs are per-image :class:`~regionlab.ops.detections.Detections` as in
:mod:`regionlab.eval.detection`: ``boxes`` ``float (N, 4)`` ``xyxy`` in absolute pixels,
``labels`` ``int64 (N,)`` indexing ``classes`` (0 the background), ``scores`` on predictions,
``iscrowd`` ``bool (N,)`` on targets (VOC "difficult").
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchvision.ops import box_iou

from regionlab.eval.detection import check_labels
from regionlab.ops.detections import Detections

__all__ = ["voc_ap", "voc_evaluate"]


def voc_ap(
    recall: Tensor | Sequence[float], precision: Tensor | Sequence[float], use_07_metric: bool
) -> float:
    """Pascal VOC average precision from a ranked list's ``recall`` and ``precision`` ``(D,)``.

    ``use_07_metric``: VOC2007's 11-point interpolation, the mean over ``t = 0, 0.1, ..., 1`` of
    the best precision at recall ``>= t``. Otherwise (VOC2010+): the exact area under the
    monotone (non-increasing) envelope of the precision/recall curve.
    """
    rec = torch.as_tensor(recall, dtype=torch.float64).flatten()
    prec = torch.as_tensor(precision, dtype=torch.float64).flatten()
    if use_07_metric:
        # i / 10 rather than arange(0, 1.1, 0.1), whose 0.30000000000000004 would exclude a
        # recall of exactly 3/10 from its own point.
        points = [prec[rec >= i / 10].max() if (rec >= i / 10).any() else 0.0 for i in range(11)]
        return float(sum(float(p) for p in points) / 11)
    mrec = torch.cat([rec.new_zeros(1), rec, rec.new_ones(1)])
    mpre = torch.cat([prec.new_zeros(1), prec, prec.new_zeros(1)])
    mpre = mpre.flip(0).cummax(0).values.flip(0)
    step = torch.nonzero(mrec[1:] != mrec[:-1]).flatten()
    return float(((mrec[step + 1] - mrec[step]) * mpre[step + 1]).sum())


def _voc_ranked(
    predictions: Sequence[Detections], targets: Sequence[Detections], label: int, iou: float
) -> tuple[Tensor, int]:
    """Greedy VOC matching of class ``label``: ``tp`` ``bool (D,)`` for the detections in
    descending score order (those matched to a difficult object dropped), and the number of
    non-difficult objects."""
    scores, owners, rows, overlaps, difficult = [], [], [], [], []
    for i, (pred, tgt) in enumerate(zip(predictions, targets)):
        p, t = pred[pred.labels == label], tgt[tgt.labels == label]
        scores.append(p.scores.double())
        owners += [i] * len(p)
        rows += range(len(p))
        overlaps.append(box_iou(p.boxes.double(), t.boxes.double()))
        difficult.append(
            t.iscrowd if t.iscrowd is not None else torch.zeros(len(t), dtype=torch.bool)
        )
    npos = int(sum((~hard).sum() for hard in difficult))
    taken = [torch.zeros(len(hard), dtype=torch.bool) for hard in difficult]
    outcome: list[bool] = []
    for k in torch.cat(scores).argsort(descending=True, stable=True).tolist():
        i, ov = owners[k], overlaps[owners[k]][rows[k]]
        best, j = ov.max(0) if ov.numel() else (torch.tensor(0.0), 0)
        if best < iou:
            outcome.append(False)
        elif difficult[i][j]:
            continue  # a difficult object is neither found nor missed
        elif taken[i][j]:
            outcome.append(False)  # the best-overlapping object was already found
        else:
            taken[i][j] = True
            outcome.append(True)
    return torch.tensor(outcome, dtype=torch.bool), npos


def voc_evaluate(
    predictions: Sequence[Detections],
    targets: Sequence[Detections],
    classes: Sequence[str],
    *,
    iou: float = 0.5,
    use_07_metric: bool = False,
) -> dict[str, float]:
    """Pascal VOC detection AP per class at IoU ``>= iou`` (the devkit's test), and their mean.

    Per class, detections from all images are ranked by descending score; each is a true
    positive when its best-overlapping object of that class (IoU ``>= iou``) is not yet taken.
    Objects with ``iscrowd`` ("difficult") do not count as positives, and a detection whose best
    overlap is one of them is neither a true nor a false positive. Boxes are continuous pixel
    ``xyxy``, so IoU needs no devkit ``+1`` (``VocDataset`` already turned its inclusive
    coordinates into ``(xmin - 1, ymin - 1, xmax, ymax)``).

    Returns ``mAP`` and ``AP/<class name>``; a class without non-difficult objects has AP
    ``nan`` and is left out of ``mAP``.
    """
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions but {len(targets)} targets")
    if any(p.scores is None for p in predictions):
        raise ValueError("voc_evaluate needs scores on every prediction")
    check_labels(predictions, len(classes), "predictions")
    check_labels(targets, len(classes), "targets")
    out = {}
    for label in range(1, len(classes)):
        tp, npos = _voc_ranked(predictions, targets, label, iou)
        if npos == 0:
            out[f"AP/{classes[label]}"] = float("nan")
            continue
        hits = tp.double().cumsum(0)
        ranks = torch.arange(1, len(tp) + 1, dtype=torch.float64)
        out[f"AP/{classes[label]}"] = voc_ap(hits / npos, hits / ranks, use_07_metric)
    aps = torch.tensor(list(out.values()), dtype=torch.float64)
    return {"mAP": float(aps.nanmean()), **out}
