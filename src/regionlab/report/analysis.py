"""The task's diagnostics of one run's predictions on the validation images, and a quality
score per image (lower is worse) to pick its worst images.

``analysis`` keys, by task:

- ``detect`` / ``instance``: ``pr`` (:class:`~regionlab.eval.detection_curves.PRCurves`),
  ``iou_type``, ``f1`` ``{label: F1 per threshold}`` (label 0: all classes) with
  ``thresholds``, ``confusion`` ``int (C, C)`` at IoU 0.5 (index 0 the background) with
  ``conf``; quality: the errors (missed + false alarms) of each image, higher is worse.
- ``segment``: ``pixel_confusion`` ``int (C, C)`` ``[true, predicted]``, ``iou`` per class;
  quality: each image's mIoU.
- ``caption``: ``references`` per image; quality: each image's CIDEr-D.
"""

from __future__ import annotations

import math

import numpy as np

from regionlab.report.predict import DRAW_CONF, Predicted

THRESHOLDS = np.linspace(0.0, 1.0, 101)


def analyse(task: str, classes: list[str], results: list, samples: list, out: Predicted) -> None:
    """Fill ``out.analysis`` and ``out.quality`` for ``task`` (other tasks: nothing)."""
    if task in ("detect", "instance"):
        _detection(task, classes, results, samples, out)
    elif task == "segment":
        _segmentation(classes, results, samples, out)
    elif task == "caption":
        _captions(results, samples, out)


def _detection(task: str, classes: list[str], results: list, samples: list, out: Predicted) -> None:
    from regionlab.eval.detection_curves import (
        confusion,
        errors_per_image,
        f1_confidence,
        match_by_class,
        pr_curves,
    )
    from regionlab.ops.detections import Detections

    preds = [Detections(r.boxes, r.labels, r.scores, r.masks, mask_scores=r.mask_scores)
             for r in results]  # fmt: skip
    truths = [Detections(s.boxes, s.labels, masks=s.masks, iscrowd=s.iscrowd,
                         area=s.object_areas()) for s in samples]  # fmt: skip
    segm = task == "instance" and all(d.masks is not None for d in preds + truths)
    iou_type = "segm" if segm else "bbox"
    sizes = [s.size for s in samples]
    n = len(classes)
    out.analysis = {
        "pr": pr_curves(preds, truths, sizes, classes, iou_type=iou_type),
        "iou_type": iou_type,
        "thresholds": THRESHOLDS,
        "f1": f1_confidence(match_by_class(preds, truths, n), THRESHOLDS),
        "confusion": confusion(preds, truths, n, conf=DRAW_CONF),
        "conf": DRAW_CONF,
    }
    out.quality = [float(e) for e in errors_per_image(preds, truths, conf=DRAW_CONF)]
    out.quality_name = f"errors (missed + false alarms at IoU 0.5, score >= {DRAW_CONF})"
    out.higher_is_worse = True


def _segmentation(classes: list[str], results: list, samples: list, out: Predicted) -> None:
    from regionlab.eval.segmentation import ConfusionMatrix

    total = ConfusionMatrix(len(classes))
    quality = []
    for r, s in zip(results, samples):
        if s.semantic is None:
            quality.append(math.nan)
            continue
        one = ConfusionMatrix(len(classes))
        one.update(r.class_map.cpu(), s.semantic.cpu())
        total.counts += one.counts
        quality.append(one.compute(classes)["miou"])
    out.analysis = {
        "pixel_confusion": total.counts.numpy(),
        "iou": dict(zip(classes, total.iou())),
    }
    out.quality = quality
    out.quality_name = "mIoU of the image"


def _captions(results: list, samples: list, out: Predicted) -> None:
    from regionlab.data.captions import tokenize
    from regionlab.eval.captions import cider_d_per_image

    refs = {i: [tokenize(c) for c in s.captions] for i, s in enumerate(samples) if s.captions}
    cands = {i: tokenize(results[i].caption) for i in refs}
    per = cider_d_per_image(cands, refs) if refs else {}
    out.quality = [per.get(i, math.nan) for i in range(len(samples))]
    out.quality_name = "CIDEr-D of the image"
    out.analysis = {"references": [list(s.captions) for s in samples]}


def worst(quality: list[float] | None, k: int, higher_is_worse: bool = False) -> list[int]:
    """Indices of the ``k`` worst finite qualities, worst first (ties: earlier first)."""
    if not quality:
        return []
    sign = -1.0 if higher_is_worse else 1.0
    ranked = sorted((sign * q, i) for i, q in enumerate(quality)
                    if math.isfinite(q) and not (higher_is_worse and q <= 0))  # fmt: skip
    return [i for _, i in ranked[:k]]
