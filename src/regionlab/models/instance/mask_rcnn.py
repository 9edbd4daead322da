"""Mask R-CNN: Faster R-CNN plus a mask head on the same regions (He et al. 2017).

Everything but the mask branch *is* Faster R-CNN's: the RPN, the
:class:`~regionlab.models.detection.regions.FeatureCropper` (RoIAlign by default, RoIPool for
the paper's ablation), the box head, the region sampler, matcher and box coder are the classes
:func:`~regionlab.models.detection.rcnn.build_region_detector` builds, not copies. The mask
branch adds:

- training: the positive sampled regions' features as ``mask_size / 2`` RoI grids, the
  :class:`~regionlab.models.instance.heads.MaskHead` upsampling them to ``mask_size``, and its
  loss (``mask``) against :func:`~regionlab.ops.masks.mask_targets` of each region's own
  object (decoupled per-class sigmoid, or the softmax ablation);
- inference: the mask head on the *detected* boxes (the paper's order: boxes first, then masks
  on the best 100), each mask's probability for its detected class pasted into the image
  (:func:`~regionlab.ops.masks.paste_masks`): ``Detections.masks`` ``float (N, H, W)`` in
  ``[0, 1]`` in input-tensor pixels.

Targets need ``masks`` ``bool (M, H, W)`` in input pixels, aligned with their boxes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from regionlab.models.detection.rcnn import RegionSpec, build_region_detector
from regionlab.models.detection.regions import (
    FeatureCropper,
    PyramidCropper,
    RegionDetector,
    RegionTargets,
    image_maps,
)
from regionlab.models.instance.heads import KeypointHead, MaskHead
from regionlab.models.losses import MultiTaskLoss
from regionlab.ops.detections import Detections
from regionlab.ops.masks import (
    keypoint_targets,
    keypoints_from_heatmaps,
    mask_targets,
    paste_masks,
)


@dataclass
class MaskSpec(RegionSpec):
    """A Faster R-CNN :class:`RegionSpec` (``model="faster-rcnn"``) plus the mask branch:
    ``mask_size`` (``m``, the paper's 28; the RoI grid is ``m / 2``), ``mask_loss``
    (``sigmoid | softmax``), the head's ``mask_convs`` convolutions of ``mask_width``;
    ``keypoints``: ``K > 0`` adds the keypoint head (same grid and head shape as the masks);
    ``mask_rois``: the mask (and keypoint) loss reads at most this many positive regions per
    image, drawn at random (``0``: all, the paper's)."""

    mask_size: int = 28
    mask_loss: str = "sigmoid"
    # 4 convolutions of 32 (torchvision: 256): measured on Penn-Fudan, 15 min, box / mask AP50
    # 0.913 / 0.873 at 749 steps against 0.90 / 0.80 at 643 steps with 64.
    mask_width: int = 32
    mask_convs: int = 4
    keypoints: int = 0
    mask_rois: int = 16

    fixed_proposals = False  # learned proposals: training augments freely
    LEGACY = {**RegionSpec.LEGACY, "mask_rois": 0}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.model != "faster-rcnn":
            raise ValueError(f"Mask R-CNN extends faster-rcnn, not {self.model!r}")
        if self.mask_size < 4 or self.mask_size % 2:
            raise ValueError(f"mask_size must be an even number >= 4, got {self.mask_size}")
        if self.keypoints < 0 or self.mask_rois < 0:
            raise ValueError(f"keypoints and mask_rois must be >= 0, got {self.keypoints}, "
                             f"{self.mask_rois}")  # fmt: skip


class MaskRCNN(RegionDetector):
    """A :class:`RegionDetector` whose forward also returns the ``mask`` loss and whose
    detections carry masks; see the module docstring."""

    def __init__(self, detector: RegionDetector, mask_head: MaskHead, mask_size: int,
                 keypoint_head: KeypointHead | None = None, mask_rois: int = 0) -> None:  # fmt: skip
        if not isinstance(detector.cropper, FeatureCropper | PyramidCropper):
            raise ValueError(
                "Mask R-CNN reads masks from feature maps: needs a FeatureCropper or a "
                "PyramidCropper"
            )
        old = detector.loss
        tasks = {**dict(zip(old.names, old.kinds)), "mask": "classification"}
        if keypoint_head is not None:
            tasks["keypoint"] = "classification"
        weights = {n: float(w) for n, w in zip(old.names, old.fixed)}
        super().__init__(detector.proposer, detector.cropper, detector.head, detector.sampler,
                         MultiTaskLoss(tasks, "fixed", weights), detector.coder,
                         detector.score_thresh, detector.nms_iou, detector.max_det,
                         detector.channels_last)  # fmt: skip
        self.mask_head, self.mask_size = mask_head, mask_size
        self.keypoint_head, self.mask_rois = keypoint_head, mask_rois

    def _grid(self, maps, rois: Sequence[Tensor]) -> Tensor:
        """The regions' ``mask_size / 2`` RoI grids, read once for the mask and keypoint heads."""
        return self.cropper.spatial(maps, rois, self.mask_size // 2)

    def extra_losses(self, maps, t: RegionTargets, targets: Sequence[Detections], gen) -> dict:
        rois, labels, goal, matched = [], [], [], []
        start = 0
        for r, obj, target in zip(t.rois, t.matched, targets):
            lab = t.labels[start : start + len(r)]
            start += len(r)
            pos = (lab > 0).nonzero().squeeze(1)
            if target.masks is None:
                raise ValueError("Mask R-CNN needs targets with masks")
            if self.mask_rois and len(pos) > self.mask_rois:
                # An unbiased subset: the mask loss is a mean over positives, and the mask head
                # costs per region far more than the box head.
                pos = pos[torch.randperm(len(pos), generator=gen)[: self.mask_rois].to(pos)]
            rois.append(r[pos])
            labels.append(lab[pos])
            matched.append(obj[pos])
            goal.append(mask_targets(target.masks, r[pos], obj[pos], self.mask_size))
        grid = self._grid(maps, rois)
        out = {"mask": self.mask_head.loss(self.mask_head(grid), torch.cat(labels),
                                           torch.cat(goal))}  # fmt: skip
        if self.keypoint_head is not None:
            out["keypoint"] = self._keypoint_loss(grid, matched, targets, rois)
        return out

    def _keypoint_loss(self, grid: Tensor, matched, targets, rois) -> Tensor:
        index, valid = [], []
        for obj, target, pos_rois in zip(matched, targets, rois):
            if target.keypoints is None:
                raise ValueError("a keypoint head needs targets with keypoints")
            i, v = keypoint_targets(target.keypoints, pos_rois, obj, self.mask_size)
            index.append(i)
            valid.append(v)
        return self.keypoint_head.loss(self.keypoint_head(grid), torch.cat(index),
                                       torch.cat(valid))  # fmt: skip

    @torch.no_grad()
    def detect(self, x: Tensor, maps, proposals: Sequence[Tensor], size) -> list[Detections]:
        out = []
        k = self.keypoint_head.num_keypoints if self.keypoint_head is not None else 0
        for i, det in enumerate(super().detect(x, maps, proposals, size)):
            masks, kps = x.new_zeros((0, *size)), x.new_zeros((0, k, 3)) if k else None
            if len(det):
                grid = self._grid(image_maps(maps, i), [det.boxes])
                probs = self.mask_head.probabilities(self.mask_head(grid).float(), det.labels)
                masks = paste_masks(probs, det.boxes, size)
                if k:
                    kps = keypoints_from_heatmaps(self.keypoint_head(grid).float(), det.boxes)
            out.append(replace(det, masks=masks, keypoints=kps))
        return out


def build_mask_rcnn(spec: MaskSpec) -> MaskRCNN:
    """Faster R-CNN from ``spec`` (the same builder as detection), then the mask branch."""
    detector = build_region_detector(spec)
    head = MaskHead(detector.cropper.spatial_channels, spec.num_classes, spec.mask_width,
                    spec.mask_convs, spec.mask_loss)  # fmt: skip
    kp = None
    if spec.keypoints:
        kp = KeypointHead(detector.cropper.spatial_channels, spec.keypoints, spec.mask_width,
                          spec.mask_convs)  # fmt: skip
    return MaskRCNN(detector, head, spec.mask_size, kp, spec.mask_rois)
