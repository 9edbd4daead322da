"""Optional heads on a region detector's regions: Mask R-CNN's mask head (the paper's decoupled
sigmoid, and the per-pixel softmax of its ablation, Table 2b) and its keypoint head. Each is a
:class:`~regionlab.models.detection.protocols.RegionHead`: plug either, or both, into a
:class:`~regionlab.models.detection.region_detector.RegionDetector` (Faster R-CNN + mask =
Mask R-CNN, + keypoints = Keypoint R-CNN).

Both read each region as an ``m / 2`` RoI grid ``(R, C, s, s)`` and produce ``(R, K, 2s, 2s)``
logits through ``convs`` ``3x3`` convolutions of ``width`` channels, a ``2x2`` stride-2
transposed convolution and a ``1x1`` to ``K`` channels. torchvision's head is 4 convs of 256
channels at 14 x 14; ours is sized for a CPU by ``convs`` / ``width``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from regionlab.models.detection.protocols import PositiveRegions
from regionlab.models.losses import TaskKind
from regionlab.ops.detections import Detections
from regionlab.ops.dtype import loss_precision
from regionlab.ops.global_batch import global_count
from regionlab.ops.masks import (
    keypoint_targets,
    keypoints_from_heatmaps,
    mask_targets,
    maskness,
    paste_masks,
)

KINDS = ("sigmoid", "softmax")
#: How a mask head ranks its masks: ``box``: by the box head's class score (the paper's);
#: ``maskness``: by that times :func:`~regionlab.ops.masks.maskness` of the mask, kept apart
#: as ``Detections.mask_scores`` (Mask Scoring R-CNN's split: boxes keep their own scores).
SCORES = ("box", "maskness")


def _check_size(size: int) -> None:
    if size < 4 or size % 2:
        raise ValueError(f"mask size must be an even number >= 4, got {size}")


class MaskHead(nn.Module):
    """One ``m x m`` mask per class (``K = num_classes``) for ``kind="sigmoid"``, or per class
    plus background (``K = num_classes + 1``) for ``"softmax"``; ``size``: ``m``; ``score``:
    one of :data:`SCORES` (at test time only: training never reads a score)."""

    loss_name = "mask"
    loss_kind: TaskKind = "classification"

    def __init__(self, in_channels: int, num_classes: int, width: int = 64, convs: int = 4,
                 kind: str = "sigmoid", size: int = 28, score: str = "box") -> None:  # fmt: skip
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"mask loss must be sigmoid or softmax, got {kind!r}")
        if score not in SCORES:
            raise ValueError(f"mask score must be one of {SCORES}, got {score!r}")
        _check_size(size)
        self.num_classes, self.kind, self.size, self.grid = num_classes, kind, size, size // 2
        self.score = score
        layers: list[nn.Module] = []
        c = in_channels
        for _ in range(convs):
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.ReLU(inplace=True)]
            c = width
        layers += [nn.ConvTranspose2d(c, width, 2, stride=2), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)
        self.out = nn.Conv2d(width, num_classes + (kind == "softmax"), 1)

    def forward(self, feats: Tensor) -> Tensor:
        # fp32 also inside a bf16-autocast step: with the head in bf16, Mask R-CNN scored 0.029
        # mask AP and 0.062 box AP lower on Penn-Fudan; with it in fp32, 0.009 and within noise
        # (benchmarks/results/precision.json, precision_mask_head_fp32.json)
        with torch.autocast(feats.device.type, enabled=False):
            return self.out(self.body(loss_precision(feats)))

    def loss(self, logits: Tensor, labels: Tensor, targets: Tensor) -> Tensor:
        """``logits (R, K, m, m)`` of positive regions, their classes ``labels (R,)`` in
        ``1 .. C`` and binary ``targets (R, m, m)``. Sigmoid: binary cross-entropy on the
        region's own class channel only (classes do not compete); softmax: cross-entropy over
        background + classes at each pixel (target class where the mask is on, else 0). A mean
        over the pixels of the (global) batch's regions; none: ``0`` with the graph."""
        count = global_count(targets.numel())  # before any branch: every process calls it
        if self.kind == "sigmoid":
            own = logits[torch.arange(len(logits), device=logits.device), labels - 1]
            terms = F.binary_cross_entropy_with_logits(own, targets, reduction="none")
        else:
            pixel = (targets > 0.5).long() * labels[:, None, None]
            terms = F.cross_entropy(logits, pixel, reduction="none")
        return terms.sum() / count

    def probabilities(self, logits: Tensor, labels: Tensor) -> Tensor:
        """``(R, m, m)`` probability that each pixel belongs to the region's class."""
        idx = torch.arange(len(logits), device=logits.device)
        if self.kind == "sigmoid":
            return logits[idx, labels - 1].sigmoid()
        return logits.softmax(1)[idx, labels]

    def region_loss(self, grid: Tensor, regions: PositiveRegions,
                    targets: Sequence[Detections]) -> Tensor:  # fmt: skip
        """Each positive region against its own object's mask (``targets[i].masks``)."""
        if any(t.masks is None for t in targets):
            raise ValueError("a mask head needs targets with masks")
        goal = mask_targets([t.masks for t in targets], regions.rois, regions.matched, self.size)
        return self.loss(self(grid), regions.labels, goal)

    def annotate(self, grid: Tensor, dets: list[Detections], size) -> list[Detections]:
        """``masks`` ``float (N, H, W)``: each detection's probability for its class, pasted
        into the image (the paper's order: boxes first, then masks on the kept ones); with
        ``score="maskness"``, ``mask_scores``: the box scores times their masks' maskness, how
        mask metrics rank them (the boxes keep their own scores and order)."""
        logits = self(grid).float().split([len(d) for d in dets])
        out = []
        for lg, det in zip(logits, dets):
            probs = self.probabilities(lg, det.labels)
            masks = paste_masks(probs, det.boxes, size) if len(det) else lg.new_zeros((0, *size))
            ranked = None
            if self.score == "maskness" and det.scores is not None:
                ranked = det.scores * maskness(probs).to(det.scores.dtype)
            out.append(replace(det, masks=masks, mask_scores=ranked))
        return out


class KeypointHead(nn.Module):
    """One heatmap per keypoint, the architecture of :class:`MaskHead` (the paper: "minor
    modifications" of it). The loss is a cross-entropy over the ``m^2`` cells of each labelled
    keypoint's map, so each keypoint is one position, not a blob."""

    loss_name = "keypoint"
    loss_kind: TaskKind = "classification"

    def __init__(self, in_channels: int, num_keypoints: int, width: int = 64,
                 convs: int = 4, size: int = 28) -> None:  # fmt: skip
        super().__init__()
        self.num_keypoints, self.size = num_keypoints, size
        self.net = MaskHead(in_channels, num_keypoints, width, convs, size=size)
        self.grid = self.net.grid

    def forward(self, feats: Tensor) -> Tensor:
        return self.net(feats)

    @staticmethod
    def loss(logits: Tensor, index: Tensor, valid: Tensor) -> Tensor:
        """``logits (R, K, m, m)``, targets ``index (R, K)`` and ``valid (R, K)``: a mean over
        the (global) batch's valid keypoints; none: ``0`` with the graph."""
        flat = logits.flatten(2)[valid]  # (V, m * m)
        terms = F.cross_entropy(flat, index[valid], reduction="sum") if len(flat) else flat.sum()
        return terms / global_count(valid.sum())

    def region_loss(self, grid: Tensor, regions: PositiveRegions,
                    targets: Sequence[Detections]) -> Tensor:  # fmt: skip
        index, valid = [], []
        for r, obj, target in zip(regions.rois, regions.matched, targets):
            if target.keypoints is None:
                raise ValueError("a keypoint head needs targets with keypoints")
            i, v = keypoint_targets(target.keypoints, r, obj, self.size)
            index.append(i)
            valid.append(v)
        return self.loss(self(grid), torch.cat(index), torch.cat(valid))

    def annotate(self, grid: Tensor, dets: list[Detections], size) -> list[Detections]:
        """``keypoints`` ``float (N, K, 3)``: ``(x, y, score)`` in input pixels."""
        logits = self(grid).float().split([len(d) for d in dets])
        k = self.num_keypoints
        return [replace(det, keypoints=keypoints_from_heatmaps(lg, det.boxes) if len(det)
                        else lg.new_zeros((0, k, 3))) for lg, det in zip(logits, dets)]  # fmt: skip
