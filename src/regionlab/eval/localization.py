"""Single-object localization metrics: classification accuracy, mean box IoU and localization
accuracy (class right *and* IoU >= 0.5 — the ILSVRC localization criterion with one guess)."""

from __future__ import annotations

import torch

from regionlab.ops.boxes import elementwise_iou


def localization_metrics(
    pred_labels: torch.Tensor,
    pred_boxes: torch.Tensor,
    gt_labels: torch.Tensor,
    gt_boxes: torch.Tensor,
    iou_threshold: float = 0.5,
) -> dict[str, float]:
    """``*_labels``: ``int (N,)``; ``*_boxes``: ``float (N, 4)`` ``xyxy`` in one frame (IoU is
    unchanged by scaling x and y, so normalised or warped coordinates give the same values).

    Returns ``acc``, ``mean_iou``, ``loc_acc`` (each in ``[0, 1]``) and ``n``.
    """
    n = len(gt_labels)
    if n == 0:
        return {"acc": 0.0, "mean_iou": 0.0, "loc_acc": 0.0, "n": 0}
    correct = pred_labels == gt_labels
    iou = elementwise_iou(pred_boxes.double(), gt_boxes.double())
    return {
        "acc": float(correct.double().mean()),
        "mean_iou": float(iou.mean()),
        "loc_acc": float((correct & (iou >= iou_threshold)).double().mean()),
        "n": n,
    }
