"""Semantic segmentation metrics from a confusion matrix: pixel accuracy, per-class IoU, mIoU."""

from __future__ import annotations

import math

import torch

from regionlab.data.sample import IGNORE_INDEX


class ConfusionMatrix:
    """Accumulates ``counts[true, pred]`` over batches; ignored pixels never count.

    ``update(pred (N,H,W) int, target (N,H,W) int)``. A class that appears in neither targets
    nor predictions has no IoU (``nan``) and is left out of the mean, as in the PASCAL/Cityscapes
    protocols.
    """

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.counts = torch.zeros((num_classes, num_classes), dtype=torch.int64)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        if pred.shape != target.shape:
            raise ValueError(
                f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ"
            )
        keep = target != self.ignore_index
        t = target[keep].to(torch.int64).cpu()
        p = pred[keep].to(torch.int64).cpu()
        if len(t) and (t.max() >= self.num_classes or t.min() < 0):
            raise ValueError(f"target class {int(t.max())} outside 0..{self.num_classes - 1}")
        k = self.num_classes
        self.counts += torch.bincount(t * k + p, minlength=k * k).view(k, k)

    def iou(self) -> list[float]:
        c = self.counts.double()
        tp = c.diag()
        denom = c.sum(0) + c.sum(1) - tp
        return [
            float(tp[i] / denom[i]) if denom[i] > 0 else math.nan for i in range(self.num_classes)
        ]

    def compute(self, class_names: list[str] | None = None) -> dict:
        """``{"pixel_acc", "miou", "iou": {name: value}}``."""
        ious = self.iou()
        valid = [v for v in ious if not math.isnan(v)]
        total = int(self.counts.sum())
        names = class_names or [str(i) for i in range(self.num_classes)]
        return {
            "pixel_acc": float(self.counts.diag().sum()) / total if total else math.nan,
            "miou": sum(valid) / len(valid) if valid else math.nan,
            "iou": dict(zip(names, ious)),
        }
