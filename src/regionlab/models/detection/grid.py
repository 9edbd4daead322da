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

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from regionlab.models.detection.anchor_head import AnchorHead
from regionlab.models.detection.grid_parts import HeadOutput
from regionlab.models.detection.inputs import DetectorInput
from regionlab.models.detection.output import DetectionOutput
from regionlab.models.detection.point_head import PointHead
from regionlab.models.losses import MultiTaskLoss
from regionlab.ops.detections import Detections
from regionlab.ops.postprocess import select_detections

__all__ = ["GridDetector"]


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
        self.normalize = DetectorInput(channels_last)
        self.backbone, self.neck, self.head, self.loss = backbone, neck, head, loss
        self.score_thresh, self.nms_iou = score_thresh, nms_iou
        self.max_det, self.pre_nms_topk = max_det, pre_nms_topk

    def forward(
        self,
        images: Tensor,
        targets: Sequence[Detections] | None = None,
        generator: torch.Generator | Sequence[torch.Generator] | None = None,
    ) -> DetectionOutput:
        """``images``: ``float (N, 3, H, W)`` in ``[0, 1]``; ``targets``: one
        :class:`Detections` per image (``xyxy`` pixels of ``images``, labels ``1 .. C``,
        optional ``iscrowd``). With targets the losses are computed in train and eval mode
        alike (validation loss). Detections are decoded on first access of
        :attr:`DetectionOutput.detections`. ``generator``: every detector's signature; the
        grid's assignment draws nothing at random."""
        x = self.normalize(images, targets)
        feats = self.backbone(x).features
        feats = self.neck([feats[i] for i in self.levels])
        raw = self.head(feats, (int(images.shape[-2]), int(images.shape[-1])))
        frozen = raw.detach()
        result = DetectionOutput(lambda: self.decode(frozen))
        if targets is not None:
            result.losses = self.head.losses(raw, targets)
            result.loss = self.loss(result.losses, shared=self.neck.last_shared())
            result.weights = self.loss.effective_weights()
        return result

    @torch.no_grad()
    def decode(self, raw: HeadOutput) -> list[Detections]:
        """Raw head outputs to per-image detections
        (:func:`~regionlab.ops.postprocess.select_detections`)."""
        boxes, scores = self.head.boxes_and_scores(raw)
        return [
            select_detections(
                b,
                s,
                raw.image_size,
                self.score_thresh,
                self.nms_iou,
                self.max_det,
                self.pre_nms_topk,
            )  # fmt: skip
            for b, s in zip(boxes, scores)
        ]
