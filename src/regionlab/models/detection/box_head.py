"""The box head every region detector ends with, and the box-regression loss it shares with the
RPN.

``C + 1`` softmax scores (0 background) and class-specific
:class:`~regionlab.ops.boxes.BoxCoder` deltas: a softmax rather than R-CNN's per-class SVMs, as
Fast R-CNN showed it is as good and trains in one piece.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import generalized_box_iou_loss

from regionlab.models.detection.region_targets import RegionTargets
from regionlab.models.losses import TaskKind
from regionlab.ops.boxes import BoxCoder
from regionlab.ops.detections import Detections
from regionlab.ops.dtype import loss_precision
from regionlab.ops.global_batch import global_count
from regionlab.ops.postprocess import select_detections

BOX_LOSSES = ("smooth_l1", "giou")


def box_regression_loss(
    coder: BoxCoder,
    pred: Tensor,
    refs: Tensor,
    gt: Tensor,
    count: Tensor | int,
    kind: str = "smooth_l1",
) -> Tensor:
    """The positives' deltas ``pred (K, 4)`` of reference boxes ``refs (K, 4)`` against their
    objects ``gt (K, 4)``: smooth L1 (``beta = 1/9``, Faster R-CNN's) on the encoded targets or,
    with ``kind="giou"``, the generalized IoU loss of the decoded boxes (Rezatofighi et al.
    2019: it measures the box, not four independent numbers); summed and divided by ``count``,
    the number of sampled regions (Fast R-CNN's normalisation)."""
    if kind == "giou":
        return generalized_box_iou_loss(coder.decode(pred, refs), gt, reduction="sum") / count
    target = coder.encode(refs, gt)
    return F.smooth_l1_loss(pred, target, beta=1 / 9, reduction="sum") / count


class BoxHead(nn.Module):
    """Region features ``(R, D)`` -> class logits ``(R, C + 1)`` (column 0 background) and
    box deltas ``(R, C, 4)`` (one box per class, R-CNN's class-specific regression; ``(R, 1,
    4)`` with ``class_specific=False``)."""

    loss_tasks: dict[str, TaskKind] = {"cls": "classification", "box": "regression"}

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        class_specific: bool = True,
        box_loss: str = "smooth_l1",
    ) -> None:
        super().__init__()
        if box_loss not in BOX_LOSSES:
            raise ValueError(f"box_loss must be smooth_l1 or giou, got {box_loss!r}")
        self.num_classes, self.box_loss = num_classes, box_loss
        self.k = num_classes if class_specific else 1
        self.cls = nn.Linear(in_features, num_classes + 1)
        self.box = nn.Linear(in_features, 4 * self.k)
        # Small deltas at the start: a region first predicts itself.
        nn.init.normal_(self.box.weight, std=0.001)
        nn.init.zeros_(self.box.bias)

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        return loss_precision(self.cls(h)), loss_precision(self.box(h)).view(len(h), self.k, 4)

    def losses(
        self, logits: Tensor, deltas: Tensor, t: RegionTargets, coder: BoxCoder
    ) -> dict[str, Tensor]:
        """Cross-entropy over all sampled regions; the positives' deltas of their own class
        through :func:`box_regression_loss`."""
        pos = t.labels > 0
        count = global_count(len(t.labels))  # the (global) batch's sampled regions
        cls = F.cross_entropy(logits, t.labels, reduction="sum") / count
        if not pos.any():  # (no collective below)
            return {"cls": cls, "box": deltas.sum() * 0.0}
        rois = torch.cat(t.rois)
        col = (t.labels[pos] - 1) if self.k > 1 else torch.zeros_like(t.labels[pos])
        pred = deltas[pos.nonzero().squeeze(1), col]
        box = box_regression_loss(coder, pred, rois[pos], t.boxes[pos], count, self.box_loss)
        return {"cls": cls, "box": box}

    @torch.no_grad()
    def detect(
        self,
        logits: Tensor,
        deltas: Tensor,
        rois: Sequence[Tensor],
        image_size: tuple[int, int],
        coder: BoxCoder,
        **select,
    ) -> list[Detections]:
        """Each image's detections from the head's outputs over all images' regions ``rois``
        (one ``(R_i, 4)`` tensor per image, rows in that order): every (region, class) above the
        score threshold with its class's box (:func:`~regionlab.ops.postprocess.
        select_detections`, tiny boxes dropped); ``select``: its thresholds."""
        out = []
        counts = [len(r) for r in rois]
        for lg, dl, r in zip(logits.split(counts), deltas.split(counts), rois):
            if len(r) == 0:  # every proposal removed (e.g. all too small): nothing found
                out.append(Detections.empty(device=r.device))
                continue
            prob = lg.float().softmax(1)[:, 1:]  # (R, C)
            boxes = coder.decode(dl.float().reshape(len(r), -1), r.float()).view(len(r), -1, 4)
            out.append(select_detections(boxes, prob, image_size, min_size=1e-2, **select))
        return out
