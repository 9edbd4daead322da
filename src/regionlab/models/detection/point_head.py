"""The grid detector's anchor-free head (YOLOv8/TOOD style): one point per cell, sigmoid class
scores, ``ltrb`` box distances, task-aligned assignment."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import complete_box_iou_loss, generalized_box_iou_loss

from regionlab.models.detection.grid_parts import GridBranches, HeadOutput, feature_sizes
from regionlab.models.losses import TaskKind
from regionlab.ops.anchors import grid_centres
from regionlab.ops.assigner import TaskAlignedAssigner
from regionlab.ops.detections import Detections
from regionlab.ops.global_batch import global_count

IOU_LOSSES = {"ciou": complete_box_iou_loss, "giou": generalized_box_iou_loss}


class PointHead(nn.Module):
    """Anchor-free head: one point per cell, sigmoid class scores, ``ltrb`` box distances.

    The box output ``r`` becomes distances ``softplus(r) * stride`` from the cell centre to the
    box's left, top, right and bottom sides (always positive: no inverted boxes). Biases start
    at a prior: every class score at ``prior_prob`` (focal-loss initialisation: background
    dominates, and a 0.5 start would flood the loss with easy negatives) and every distance at
    2 cells (a ``4 x 4``-cell box).

    ``cls_loss``: ``bce`` (YOLOv8) or ``varifocal`` (VarifocalNet: negatives weighted by
    ``0.75 p ** 2``, positives by their target); ``box_loss``: ``ciou`` or ``giou``.
    """

    loss_tasks: dict[str, TaskKind] = {
        "cls": "classification",
        "box": "regression",
        "l1": "regression",
    }

    def __init__(
        self,
        in_channels: Sequence[int],
        strides: Sequence[int],
        num_classes: int,
        assigner: TaskAlignedAssigner,
        cls_width: int = 64,
        box_width: int = 64,
        convs: int = 2,
        cls_loss: Literal["bce", "varifocal"] = "bce",
        box_loss: Literal["ciou", "giou"] = "ciou",
        prior_prob: float = 0.01,
    ) -> None:
        super().__init__()
        if cls_loss not in ("bce", "varifocal"):
            raise ValueError(f"cls_loss must be bce or varifocal, got {cls_loss!r}")
        if box_loss not in IOU_LOSSES:
            raise ValueError(f"point head box_loss must be ciou or giou, got {box_loss!r}")
        self.strides = tuple(int(s) for s in strides)
        self.num_classes = num_classes
        self.assigner = assigner
        self.cls_loss, self.box_loss = cls_loss, box_loss
        self.branches = GridBranches(in_channels, num_classes, 4, cls_width, box_width, convs)
        for cls, box in zip(self.branches.cls, self.branches.box):
            nn.init.constant_(cls[-1].bias, -math.log((1 - prior_prob) / prior_prob))
            nn.init.constant_(box[-1].bias, math.log(math.expm1(2.0)))  # softplus^-1(2)
        self._priors: dict[tuple, Tensor] = {}

    def priors(self, sizes: tuple[tuple[int, int], ...], device: torch.device) -> Tensor:
        """``(P, 4)``: ``(x, y, stride, stride)`` of every cell centre, levels concatenated."""
        key = (sizes, str(device))
        if key not in self._priors:
            parts = []
            for (h, w), s in zip(sizes, self.strides):
                xy = grid_centres((h, w), s, device)
                parts.append(torch.cat((xy, xy.new_full((h * w, 2), float(s))), 1))
            self._priors[key] = torch.cat(parts)
        return self._priors[key]

    def forward(self, feats: Sequence[Tensor], image_size: tuple[int, int]) -> HeadOutput:
        cls, box = self.branches(feats)
        return HeadOutput(cls, box, self.priors(feature_sizes(feats), cls.device), image_size)

    @staticmethod
    def decode_boxes(box: Tensor, priors: Tensor) -> Tensor:
        """Raw ``(..., P, 4)`` outputs to ``xyxy`` pixels."""
        dist = F.softplus(box) * priors[:, 2:].repeat(1, 2)
        xy = priors[:, :2]
        return torch.cat((xy - dist[..., :2], xy + dist[..., 2:]), -1)

    def boxes_and_scores(self, out: HeadOutput) -> tuple[Tensor, Tensor]:
        return self.decode_boxes(out.box, out.priors), out.cls.sigmoid()

    def losses(self, out: HeadOutput, targets: Sequence[Detections]) -> dict[str, Tensor]:
        points = out.priors[:, :2]
        pred_boxes = self.decode_boxes(out.box, out.priors)
        a = self.assigner.batch(
            points,
            out.cls.detach().sigmoid(),
            pred_boxes.detach(),
            [t.to(points.device) for t in targets],
        )
        positive = a.positive
        target = F.one_hot(a.labels, self.num_classes + 1)[..., 1:] * a.scores[..., None]
        weight = (~a.ignore)[..., None].to(out.cls.dtype)
        if self.cls_loss == "varifocal":
            p = out.cls.detach().sigmoid()
            weight = weight * torch.where(target > 0, target, 0.75 * p.pow(2))
        norm = global_count(a.scores.sum())  # over the global batch's positives
        bce = F.binary_cross_entropy_with_logits(
            out.cls, target.to(out.cls.dtype), reduction="none"
        )
        cls = (bce * weight).sum() / norm
        w = a.scores[positive]
        pb, tb = pred_boxes[positive], a.boxes[positive]
        box = (IOU_LOSSES[self.box_loss](pb, tb, reduction="none") * w).sum() / norm
        # L1 on the side distances, relative to the object's width / height.
        xy = points.expand(len(targets), -1, -1)[positive]
        size = (tb[:, 2:] - tb[:, :2]).clamp(min=1.0).repeat(1, 2)
        pd = torch.cat((xy - pb[:, :2], pb[:, 2:] - xy), 1)
        td = torch.cat((xy - tb[:, :2], tb[:, 2:] - xy), 1)
        l1 = (((pd - td).abs() / size).mean(1) * w).sum() / norm
        return {"cls": cls, "box": box, "l1": l1}
