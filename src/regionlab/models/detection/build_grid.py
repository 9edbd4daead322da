"""Wiring: a :class:`~.specs.GridSpec` to its :class:`~.grid.GridDetector`."""

from __future__ import annotations

from regionlab.models.detection.anchor_head import AnchorHead
from regionlab.models.detection.backbone import build_backbone
from regionlab.models.detection.csp import PANNeck
from regionlab.models.detection.grid import GridDetector
from regionlab.models.detection.point_head import PointHead
from regionlab.models.losses import MultiTaskLoss
from regionlab.ops.anchors import AnchorGenerator
from regionlab.ops.assigner import TaskAlignedAssigner
from regionlab.ops.boxes import BoxCoder
from regionlab.ops.matcher import Matcher

DEFAULT_WEIGHTS = {"tal": {"cls": 0.5, "box": 7.5, "l1": 1.5}, "iou": {"cls": 1.0, "box": 1.0}}


def anchor_ratios(spec) -> list[float]:
    """The ``K`` aspect ratios of the IoU head's anchors (see :class:`~.specs.GridSpec`)."""
    k = spec.anchors_per_cell or (len(spec.anchor_ratios) if spec.anchor_ratios else 3)
    if spec.anchor_ratios is not None:
        if len(spec.anchor_ratios) != k:
            raise ValueError(f"anchors_per_cell {k} but {len(spec.anchor_ratios)} anchor_ratios")
        return [float(r) for r in spec.anchor_ratios]
    if k < 1:
        raise ValueError(f"anchors_per_cell must be >= 1, got {k}")
    return [1.0] if k == 1 else [2.0 ** (-1 + 2 * i / (k - 1)) for i in range(k)]


def _head(spec, neck_ch: list[int]) -> PointHead | AnchorHead:
    common = dict(cls_width=spec.head_width, box_width=spec.box_width, convs=spec.head_convs,
                  prior_prob=spec.prior_prob)  # fmt: skip
    if spec.assigner == "tal":
        if spec.anchors_per_cell not in (None, 1):
            raise ValueError("the tal head has one anchor point per cell (anchors_per_cell=1)")
        min_size = spec.min_size if spec.min_size is not None else 2.0 * min(spec.strides)
        assigner = TaskAlignedAssigner(spec.topk, spec.alpha, spec.beta, min_size)
        return PointHead(neck_ch, spec.strides, spec.num_classes, assigner,
                         cls_loss=spec.cls_loss, box_loss=spec.box_loss or "ciou", **common)  # fmt: skip
    ratios = anchor_ratios(spec)
    gen = AnchorGenerator([[spec.anchor_scale * s] for s in spec.strides],
                          [ratios] * len(spec.strides), spec.strides)  # fmt: skip
    return AnchorHead(neck_ch, gen, spec.num_classes, Matcher(spec.fg_iou, spec.bg_iou, True),
                      BoxCoder((10.0, 10.0, 5.0, 5.0)), box_loss=spec.box_loss or "smooth_l1",
                      neg_ratio=spec.neg_ratio, **common)  # fmt: skip


def build_grid_detector(spec) -> GridDetector:
    """A :class:`GridDetector` from a :class:`~.specs.GridSpec`."""
    if spec.num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {spec.num_classes}")
    if spec.assigner not in DEFAULT_WEIGHTS:
        raise ValueError(f"assigner must be tal or iou, got {spec.assigner!r}")
    backbone = build_backbone(spec.backbone)
    missing = [s for s in spec.strides if s not in backbone.strides]
    if missing or not spec.strides:
        raise ValueError(
            f"strides {spec.strides}: backbone {spec.backbone.name!r} has {backbone.strides}"
        )
    in_ch = [backbone.channels[backbone.strides.index(s)] for s in spec.strides]
    neck_ch = list(spec.neck_widths) if spec.neck_widths else in_ch
    neck = PANNeck(in_ch, neck_ch, spec.neck_depth)
    head = _head(spec, neck_ch)
    weights = dict(DEFAULT_WEIGHTS[spec.assigner]) | dict(spec.loss_weights or {})
    loss = MultiTaskLoss(head.loss_tasks, spec.weighting, weights, spec.alpha_gradnorm)
    return GridDetector(backbone, neck, head, loss, spec.strides, spec.score_thresh,
                        spec.nms_iou, spec.max_det, spec.pre_nms_topk)  # fmt: skip
