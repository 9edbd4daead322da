"""The single-shot grid detector.

The lecture's idea: slide a window over the image (here: the cells of a feature map) and, in
one pass, let every window output a fixed number of boxes -- "assume at most ``K`` objects per
window, output ``4K`` numbers plus class scores, background meaning *ignore*". An FPN+PAN neck
gives three such grids at strides 8, 16 and 32 (by default), so that each object has a
window of about its size. Two ways of teaching the grids, chosen by the head:

- :class:`PointHead` (``assigner="tal"``, the default; YOLOv8/TOOD style): one anchor *point*
  per cell, no anchor box. The cell predicts a box as its distances ``(l, t, r, b)`` to the
  four sides (in stride units) and one sigmoid score per class (no background class: all
  scores low means background). Positives come from the
  :class:`~regionlab.ops.assigner.TaskAlignedAssigner`, which picks the cells whose
  *current* predictions are best aligned with each object; their class targets are the soft,
  IoU-aware scores, so a score ranks boxes by quality. Losses ``cls`` (BCE or varifocal on the
  soft targets), ``box`` (CIoU or GIoU) and ``l1`` (side distances relative to the object
  size), each normalised by the sum of target scores.
- :class:`AnchorHead` (``assigner="iou"``, the notes' literal idea, for comparison): ``K``
  anchor boxes per cell (:class:`~regionlab.ops.anchors.AnchorGenerator`), matched to objects
  by IoU (:class:`~regionlab.ops.matcher.Matcher`), a softmax over ``C + 1`` classes with an
  explicit background class (SSD's hard negative mining keeps 3 negatives per positive) and
  :class:`~regionlab.ops.boxes.BoxCoder` deltas with smooth L1. Losses ``cls`` and ``box``.

Both weigh their losses through :class:`~regionlab.models.losses.MultiTaskLoss`. Inference
(either head): every (cell, class) pair scoring above ``score_thresh`` is a candidate (the
best ``pre_nms_topk`` kept), boxes clipped to the image, class-aware
:func:`~torchvision.ops.batched_nms` at ``nms_iou``, then the best ``max_det`` per image.

Boxes at the model boundary are ``xyxy`` pixels of the input tensor; labels ``1 .. C``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import (
    batched_nms,
    box_iou,
    clip_boxes_to_image,
    complete_box_iou_loss,
    generalized_box_iou_loss,
)

from regionlab.models.backbones import Normalize, build_encoder
from regionlab.models.detection.csp import ConvBNAct, CSPBackbone, PANNeck
from regionlab.models.detection.output import DetectionOutput
from regionlab.models.losses import MultiTaskLoss, TaskKind, regression_loss
from regionlab.ops.anchors import AnchorGenerator, grid_centres
from regionlab.ops.assigner import TaskAlignedAssigner
from regionlab.ops.boxes import BoxCoder
from regionlab.ops.detections import Detections
from regionlab.ops.matcher import Matcher, ignore_crowd_overlap

__all__ = [
    "AnchorHead",
    "GridDetector",
    "GridSpec",
    "HeadOutput",
    "PointHead",
    "build_grid_detector",
    "postprocess",
]

IOU_LOSSES = {"ciou": complete_box_iou_loss, "giou": generalized_box_iou_loss}


# --------------------------------------------------------------------------- shared pieces


class GridBranches(nn.Module):
    """Per level, two convolution towers on the neck map: ``convs`` ``3x3`` ConvBNAct then a
    ``1x1`` to ``cls_out`` channels (class branch, ``cls_width`` wide) and to ``box_out``
    channels (box branch, ``box_width`` wide). Decoupled branches: what and where are
    different questions and converge faster without sharing the last layers."""

    def __init__(
        self,
        in_channels: Sequence[int],
        cls_out: int,
        box_out: int,
        cls_width: int,
        box_width: int,
        convs: int = 2,
    ) -> None:
        super().__init__()

        def tower(cin: int, width: int, out: int) -> nn.Sequential:
            layers = [ConvBNAct(cin if i == 0 else width, width, 3) for i in range(convs)]
            return nn.Sequential(*layers, nn.Conv2d(width if convs else cin, out, 1))

        self.cls = nn.ModuleList(tower(c, cls_width, cls_out) for c in in_channels)
        self.box = nn.ModuleList(tower(c, box_width, box_out) for c in in_channels)

    def forward(self, feats: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
        """One prediction per cell: ``(cls (N, P, cls_out), box (N, P, box_out))`` over all
        levels (a head with ``K`` per cell flattens each level itself, see :func:`flatten`)."""
        cls = [flatten(head(f), 1) for head, f in zip(self.cls, feats)]
        box = [flatten(head(f), 1) for head, f in zip(self.box, feats)]
        return torch.cat(cls, 1), torch.cat(box, 1)


def flatten(x: Tensor, k: int) -> Tensor:
    """A head map ``(N, K * c, h, w)`` to ``(N, h * w * K, c)``: row ``(i * w + j) * K + a`` is
    prediction ``a`` of cell ``(i, j)``, the order of
    :meth:`~regionlab.ops.anchors.AnchorGenerator.level_anchors`."""
    n, kc, h, w = x.shape
    return x.permute(0, 2, 3, 1).reshape(n, h * w * k, kc // k)


@dataclass
class HeadOutput:
    """Raw head outputs over all levels, ``P`` predictions per image (cells times ``K``).

    ``cls``: ``(N, P, C)`` sigmoid logits (:class:`PointHead`) or ``(N, P, C + 1)`` softmax
    logits, column 0 background (:class:`AnchorHead`); ``box``: ``(N, P, 4)`` raw box outputs;
    ``priors``: ``(P, 4)`` the reference of each prediction (``(x, y, stride, stride)`` points
    for :class:`PointHead`, ``xyxy`` anchors for :class:`AnchorHead`); ``image_size``:
    ``(H, W)`` of the input.
    """

    cls: Tensor
    box: Tensor
    priors: Tensor
    image_size: tuple[int, int]

    def detach(self) -> HeadOutput:
        return HeadOutput(self.cls.detach(), self.box.detach(), self.priors, self.image_size)


def _feature_sizes(feats: Sequence[Tensor]) -> tuple[tuple[int, int], ...]:
    return tuple((int(f.shape[-2]), int(f.shape[-1])) for f in feats)


@torch.no_grad()
def postprocess(
    boxes: Tensor,
    scores: Tensor,
    image_size: tuple[int, int],
    score_thresh: float = 0.001,
    nms_iou: float = 0.65,
    max_det: int = 100,
    pre_nms_topk: int = 1000,
) -> list[Detections]:
    """Per-image detections from dense predictions.

    Args:
        boxes: ``(N, P, 4)`` ``xyxy`` pixels.
        scores: ``(N, P, C)`` probabilities; column ``c - 1`` is class ``c``.
        image_size: ``(H, W)``: boxes are clipped to it.

    Every (prediction, class) pair above ``score_thresh`` is a candidate (a box may be kept for
    two classes), the best ``pre_nms_topk`` go through class-aware NMS and the best ``max_det``
    survivors are returned, by descending score.
    """
    out = []
    c = scores.shape[-1]
    for b, s in zip(boxes, scores):
        flat = s.flatten()
        keep = (flat > score_thresh).nonzero().squeeze(1)
        if keep.numel() > pre_nms_topk:
            keep = keep[flat[keep].topk(pre_nms_topk).indices]
        sc = flat[keep]
        bx = clip_boxes_to_image(b[keep // c], image_size)
        labels = keep % c + 1
        kept = batched_nms(bx.float(), sc.float(), labels, nms_iou)[:max_det]
        out.append(Detections(bx[kept].float(), labels[kept], sc[kept].float()))
    return out


# --------------------------------------------------------------------------- TAL head


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
        return HeadOutput(cls, box, self.priors(_feature_sizes(feats), cls.device), image_size)

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
        norm = a.scores.sum().clamp(min=1.0)
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


# --------------------------------------------------------------------------- IoU-anchor head


class AnchorHead(nn.Module):
    """The notes' head: ``K`` anchor boxes per cell, each with ``C + 1`` softmax logits (column
    0 background) and 4 :class:`~regionlab.ops.boxes.BoxCoder` deltas.

    Training: anchors are matched to objects by IoU (``matcher``; crowds are ignored, as are
    background anchors lying mostly inside a crowd box); the class loss is cross-entropy over
    the positives and the ``neg_ratio`` times as many hardest negatives per image (at least
    ``neg_ratio`` even in an image without objects), divided by the number of positives (at
    least 1); the box loss ``box_loss`` (``smooth_l1 | l1 | l2``) on the positives' deltas.
    """

    loss_tasks: dict[str, TaskKind] = {"cls": "classification", "box": "regression"}

    def __init__(
        self,
        in_channels: Sequence[int],
        anchors: AnchorGenerator,
        num_classes: int,
        matcher: Matcher,
        coder: BoxCoder,
        cls_width: int = 64,
        box_width: int = 64,
        convs: int = 2,
        box_loss: str = "smooth_l1",
        neg_ratio: int = 3,
        prior_prob: float = 0.01,
    ) -> None:
        super().__init__()
        ks = set(anchors.num_anchors_per_location())
        if len(ks) != 1:
            raise ValueError(f"every level needs the same number of anchors per cell, got {ks}")
        regression_loss(torch.zeros(1), torch.zeros(1), box_loss)  # validates the name early
        self.k = ks.pop()
        self.anchors, self.matcher, self.coder = anchors, matcher, coder
        self.num_classes, self.box_loss, self.neg_ratio = num_classes, box_loss, int(neg_ratio)
        self.branches = GridBranches(
            in_channels, self.k * (num_classes + 1), self.k * 4, cls_width, box_width, convs
        )
        # Background starts at probability 1 - prior_prob, the C classes share the rest.
        bias = math.log((1 - prior_prob) / prior_prob * max(num_classes, 1))
        for cls in self.branches.cls:
            nn.init.zeros_(cls[-1].bias)
            cls[-1].bias.data.view(self.k, num_classes + 1)[:, 0] = bias
        self._priors: dict[tuple, Tensor] = {}

    def priors(self, sizes: tuple[tuple[int, int], ...], device: torch.device) -> Tensor:
        key = (sizes, str(device))
        if key not in self._priors:
            self._priors[key] = torch.cat(self.anchors(list(sizes), device))
        return self._priors[key]

    def forward(self, feats: Sequence[Tensor], image_size: tuple[int, int]) -> HeadOutput:
        cls, box = [], []
        for c_head, b_head, f in zip(self.branches.cls, self.branches.box, feats):
            cls.append(flatten(c_head(f), self.k))
            box.append(flatten(b_head(f), self.k))
        priors = self.priors(_feature_sizes(feats), feats[0].device)
        return HeadOutput(torch.cat(cls, 1), torch.cat(box, 1), priors, image_size)

    def boxes_and_scores(self, out: HeadOutput) -> tuple[Tensor, Tensor]:
        n, p, _ = out.box.shape
        anchors = out.priors.repeat(n, 1)
        boxes = self.coder.decode(out.box.reshape(n * p, 4), anchors).view(n, p, 4)
        return boxes, out.cls.softmax(-1)[..., 1:]

    def losses(self, out: HeadOutput, targets: Sequence[Detections]) -> dict[str, Tensor]:
        anchors = out.priors
        cls_terms, pos_deltas, pos_targets, num_pos = [], [], [], 0
        for logits, deltas, t in zip(out.cls, out.box, targets):
            t = t.to(anchors.device)
            crowd = t.iscrowd if t.iscrowd is not None else torch.zeros(len(t), dtype=torch.bool)
            matches = self.matcher(box_iou(t.boxes, anchors), crowd.to(anchors.device))
            matches = ignore_crowd_overlap(matches, anchors, t.boxes[crowd])
            positive, negative = matches >= 0, matches == -1
            labels = torch.zeros(len(anchors), dtype=torch.int64, device=anchors.device)
            labels[positive] = t.labels[matches[positive]]
            ce = F.cross_entropy(logits, labels, reduction="none")
            n_pos = int(positive.sum())
            neg = ce.detach().masked_fill(~negative, -1.0)
            n_neg = min(self.neg_ratio * max(n_pos, 1), int(negative.sum()))
            hard = neg.topk(n_neg).indices
            cls_terms.append(ce[positive].sum() + ce[hard].sum())
            pos_deltas.append(deltas[positive])
            pos_targets.append(
                self.coder.encode(anchors[positive], t.boxes[matches[positive]].float())
            )
            num_pos += n_pos
        cls = torch.stack(cls_terms).sum() / max(num_pos, 1)
        pd, td = torch.cat(pos_deltas), torch.cat(pos_targets)
        box = regression_loss(pd, td, self.box_loss) if len(pd) else out.box.sum() * 0.0
        return {"cls": cls, "box": box}


# --------------------------------------------------------------------------- the detector


class GridDetector(nn.Module):
    """``backbone -> neck -> head``, composed by constructor injection.

    ``backbone``: an encoder returning an :class:`~regionlab.models.backbones.EncoderOutput`
    and exposing ``strides`` and ``channels`` (e.g. :class:`~.csp.CSPBackbone` or
    :func:`~regionlab.models.backbones.build_encoder`); the maps at ``strides`` go to the
    ``neck`` (:class:`~.csp.PANNeck`); ``head``: :class:`PointHead` or :class:`AnchorHead`;
    ``loss``: a :class:`MultiTaskLoss` over the head's ``loss_tasks``. Images are normalised
    with ImageNet statistics first (:class:`~regionlab.models.backbones.Normalize`) and, with
    ``channels_last``, run in the NHWC memory layout (no reorder copies inside oneDNN's
    convolutions: a CPU training step is 1.3-1.5x faster; also the layout GPUs prefer).
    """

    def __init__(
        self,
        backbone: nn.Module,
        neck: nn.Module,
        head: PointHead | AnchorHead,
        loss: MultiTaskLoss,
        strides: Sequence[int] = (8, 16, 32),
        score_thresh: float = 0.001,
        nms_iou: float = 0.65,
        max_det: int = 100,
        pre_nms_topk: int = 1000,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        missing = [s for s in strides if s not in backbone.strides]
        if missing:
            raise ValueError(f"backbone has no stride {missing}; it has {backbone.strides}")
        if set(loss.names) != set(head.loss_tasks):
            raise ValueError(
                f"loss tasks {loss.names} do not match the head's {list(head.loss_tasks)}"
            )
        self.levels = [backbone.strides.index(s) for s in strides]
        self.strides = tuple(strides)
        self.normalize = Normalize()
        self.backbone, self.neck, self.head, self.loss = backbone, neck, head, loss
        self.score_thresh, self.nms_iou = score_thresh, nms_iou
        self.max_det, self.pre_nms_topk = max_det, pre_nms_topk
        self.channels_last = channels_last

    def forward(
        self, images: Tensor, targets: Sequence[Detections] | None = None
    ) -> DetectionOutput:
        """``images``: ``float (N, 3, H, W)`` in ``[0, 1]``; ``targets``: one
        :class:`Detections` per image (``xyxy`` pixels of ``images``, labels ``1 .. C``,
        optional ``iscrowd``). With targets the losses are computed in train and eval mode
        alike (validation loss). Detections are decoded on first access of
        :attr:`DetectionOutput.detections`."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (N, 3, H, W), got {tuple(images.shape)}")
        x = self.normalize(images)
        if self.channels_last:  # oneDNN's native layout: about 1.5x faster on the CPU
            x = x.contiguous(memory_format=torch.channels_last)
        feats = self.backbone(x).features
        feats = self.neck([feats[i] for i in self.levels])
        raw = self.head(feats, (int(images.shape[-2]), int(images.shape[-1])))
        frozen = raw.detach()
        result = DetectionOutput(lambda: self.decode(frozen))
        if targets is not None:
            if len(targets) != len(images):
                raise ValueError(f"{len(images)} images but {len(targets)} targets")
            result.losses = self.head.losses(raw, targets)
            result.loss = self.loss(result.losses, shared=self.neck.last_shared())
            result.weights = self.loss.effective_weights()
        return result

    @torch.no_grad()
    def decode(self, raw: HeadOutput) -> list[Detections]:
        """Raw head outputs to per-image detections (see :func:`postprocess`)."""
        boxes, scores = self.head.boxes_and_scores(raw)
        return postprocess(
            boxes,
            scores,
            raw.image_size,
            self.score_thresh,
            self.nms_iou,
            self.max_det,
            self.pre_nms_topk,
        )


# --------------------------------------------------------------------------- spec and builder


@dataclass
class GridSpec:
    """Everything :func:`build_grid_detector` needs (plain values, stored in checkpoints).

    - ``num_classes``: object classes ``C`` (labels ``1 .. C``; no background).
    - ``backbone``: ``csp`` (our :class:`~.csp.CSPBackbone` with ``widths`` for the stem and
      each stage, strides ``2, 4, ...``, and ``depths`` bottlenecks per stage) or a name for
      :func:`~regionlab.models.backbones.build_encoder` (``pretrained``: a local state dict).
    - ``strides``: the levels detected on (e.g. ``[16, 32]`` for large objects only).
    - ``neck_widths``: channels of each neck level (default: the backbone's at ``strides``);
      ``neck_depth``: bottlenecks in each neck CSP block.
    - ``head_width`` / ``box_width``: class / box tower width; ``head_convs``: ``3x3`` layers
      per tower.
    - ``assigner``: ``tal`` (:class:`PointHead`) or ``iou`` (:class:`AnchorHead`).
    - ``tal``: ``topk``, ``alpha``, ``beta``, ``min_size`` (default: twice the finest stride)
      of the :class:`~regionlab.ops.assigner.TaskAlignedAssigner`; ``cls_loss``
      (``bce | varifocal``).
    - ``iou``: ``anchors_per_cell`` ``K`` (default 3) aspect ratios (``anchor_ratios``, height
      over width, default ``K`` ratios spaced geometrically over ``[1/2, 2]``, or ``[1]``) of
      side ``anchor_scale * stride``; ``fg_iou`` / ``bg_iou`` for the matcher; ``neg_ratio``.
    - ``box_loss``: ``ciou | giou`` (``tal``, default ``ciou``) or ``smooth_l1 | l1 | l2``
      (``iou``, default ``smooth_l1``).
    - ``loss_weights``: fixed weights per task (defaults: ``tal`` ``cls 0.5, box 7.5, l1 1.5``,
      YOLOv8's gains; ``iou`` ``cls 1, box 1``); ``weighting`` / ``alpha_gradnorm``: the
      :class:`MultiTaskLoss` scheme.
    - inference: ``score_thresh`` (0.001 for evaluation; raise it for display), ``nms_iou``,
      ``max_det``, ``pre_nms_topk``.
    """

    num_classes: int
    backbone: str = "csp"
    widths: list[int] = field(default_factory=lambda: [16, 32, 64, 128, 256])
    depths: list[int] = field(default_factory=lambda: [0, 1, 1, 1])
    pretrained: str | None = None
    strides: list[int] = field(default_factory=lambda: [8, 16, 32])
    neck_widths: list[int] | None = None
    neck_depth: int = 1
    head_width: int = 64
    box_width: int = 64
    head_convs: int = 2
    assigner: str = "tal"
    topk: int = 10
    alpha: float = 0.5
    beta: float = 6.0
    min_size: float | None = None
    cls_loss: str = "bce"
    anchors_per_cell: int | None = None
    anchor_ratios: list[float] | None = None
    anchor_scale: float = 4.0
    fg_iou: float = 0.5
    bg_iou: float = 0.4
    neg_ratio: int = 3
    box_loss: str | None = None
    loss_weights: dict[str, float] | None = None
    weighting: str = "fixed"
    alpha_gradnorm: float = 1.5
    prior_prob: float = 0.01
    score_thresh: float = 0.001
    nms_iou: float = 0.65
    max_det: int = 100
    pre_nms_topk: int = 1000

    def to_dict(self) -> dict:
        return asdict(self)


DEFAULT_WEIGHTS = {"tal": {"cls": 0.5, "box": 7.5, "l1": 1.5}, "iou": {"cls": 1.0, "box": 1.0}}


def _anchor_ratios(spec: GridSpec) -> list[float]:
    k = spec.anchors_per_cell or (len(spec.anchor_ratios) if spec.anchor_ratios else 3)
    if spec.anchor_ratios is not None:
        if len(spec.anchor_ratios) != k:
            raise ValueError(f"anchors_per_cell {k} but {len(spec.anchor_ratios)} anchor_ratios")
        return [float(r) for r in spec.anchor_ratios]
    if k < 1:
        raise ValueError(f"anchors_per_cell must be >= 1, got {k}")
    return [1.0] if k == 1 else [2.0 ** (-1 + 2 * i / (k - 1)) for i in range(k)]


def build_grid_detector(spec: GridSpec) -> GridDetector:
    """A :class:`GridDetector` from a :class:`GridSpec`."""
    if spec.num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {spec.num_classes}")
    if spec.assigner not in DEFAULT_WEIGHTS:
        raise ValueError(f"assigner must be tal or iou, got {spec.assigner!r}")
    if spec.backbone == "csp":
        backbone = CSPBackbone(spec.widths, spec.depths)
    else:
        backbone = build_encoder(
            spec.backbone, widths=tuple(spec.widths), pretrained=spec.pretrained
        )
    missing = [s for s in spec.strides if s not in backbone.strides]
    if missing or not spec.strides:
        raise ValueError(
            f"strides {spec.strides}: backbone {spec.backbone!r} has {backbone.strides}"
        )
    in_ch = [backbone.channels[backbone.strides.index(s)] for s in spec.strides]
    neck_ch = list(spec.neck_widths) if spec.neck_widths else in_ch
    neck = PANNeck(in_ch, neck_ch, spec.neck_depth)
    common = dict(
        cls_width=spec.head_width,
        box_width=spec.box_width,
        convs=spec.head_convs,
        prior_prob=spec.prior_prob,
    )
    if spec.assigner == "tal":
        if spec.anchors_per_cell not in (None, 1):
            raise ValueError("the tal head has one anchor point per cell (anchors_per_cell=1)")
        min_size = spec.min_size if spec.min_size is not None else 2.0 * min(spec.strides)
        assigner = TaskAlignedAssigner(spec.topk, spec.alpha, spec.beta, min_size)
        head = PointHead(
            neck_ch,
            spec.strides,
            spec.num_classes,
            assigner,
            cls_loss=spec.cls_loss,
            box_loss=spec.box_loss or "ciou",
            **common,
        )
    else:
        ratios = _anchor_ratios(spec)
        gen = AnchorGenerator(
            [[spec.anchor_scale * s] for s in spec.strides],
            [ratios] * len(spec.strides),
            spec.strides,
        )
        head = AnchorHead(
            neck_ch,
            gen,
            spec.num_classes,
            Matcher(spec.fg_iou, spec.bg_iou, True),
            BoxCoder((10.0, 10.0, 5.0, 5.0)),
            box_loss=spec.box_loss or "smooth_l1",
            neg_ratio=spec.neg_ratio,
            **common,
        )
    weights = dict(DEFAULT_WEIGHTS[spec.assigner]) | dict(spec.loss_weights or {})
    loss = MultiTaskLoss(head.loss_tasks, spec.weighting, weights, spec.alpha_gradnorm)
    return GridDetector(
        backbone,
        neck,
        head,
        loss,
        spec.strides,
        spec.score_thresh,
        spec.nms_iou,
        spec.max_det,
        spec.pre_nms_topk,
    )
