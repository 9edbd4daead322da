"""The typed seams of the region detectors: what a proposer, a cropper and a region head must
offer, so that :class:`~regionlab.models.detection.region_detector.RegionDetector` composes any
of them (the lecture's line is one swapped part per step).

Boxes are ``xyxy`` pixels of the input tensor; ``Maps`` are the cropper's feature maps of the
whole batch, finest first (``[]`` when regions are cut out of the image itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from regionlab.models.losses import TaskKind
from regionlab.ops.detections import Detections

#: Feature maps ``(N, C, H / s, W / s)``, one per level, finest first; empty for image croppers.
Maps = list[Tensor]


class Proposer(Protocol):
    """Where to look: ``(images float (N, 3, H, W) in [0, 1], maps, targets or None,
    generators: one per image)`` -> (one ``(P_i, 4)`` box tensor per image, its own losses).
    ``loss_tasks`` names those losses (empty for an unlearned proposer)."""

    loss_tasks: dict[str, TaskKind]

    def __call__(
        self,
        images: Tensor,
        maps: Maps,
        targets: Sequence[Detections] | None,
        gen: Sequence[torch.Generator],
    ) -> tuple[list[Tensor], dict[str, Tensor]]: ...


class Cropper(Protocol):
    """What each region looks like. ``features(x)`` computes the maps once per batch
    (``x`` ImageNet-normalised); ``cropper(x, maps, rois)`` gives each region's feature vector
    ``(R, out_features)`` in the order of ``rois`` (one ``(K_i, 4)`` tensor per image).
    ``map_channels``: the channels of every map (what an RPN reads)."""

    out_features: int
    map_channels: int

    def features(self, x: Tensor) -> Maps: ...

    def __call__(self, x: Tensor, maps: Maps, rois: Sequence[Tensor]) -> Tensor: ...


class GridCropper(Cropper, Protocol):
    """A cropper on feature maps that can also hand each region over as a spatial grid
    ``(R, spatial_channels, out, out)`` (what mask and keypoint heads read)."""

    spatial_channels: int

    def spatial(self, maps: Maps, rois: Sequence[Tensor], out: int) -> Tensor: ...


@dataclass
class PositiveRegions:
    """The positive sampled regions a region head trains on: ``rois`` one ``(K_i, 4)`` tensor
    per image; ``labels`` ``int64 (K,)`` their classes ``1 .. C`` over all images; ``matched``
    one ``int64 (K_i,)`` per image: each region's object in that image's targets."""

    rois: list[Tensor]
    labels: Tensor
    matched: list[Tensor]


class RegionHead(Protocol):
    """An optional head on the detector's regions (Mask R-CNN's mask head, its keypoint head).

    It reads each region as a ``grid x grid`` RoI grid; ``loss`` is its training loss on the
    positive regions against their own objects' targets (named ``loss_name``, of
    ``loss_kind``); ``annotate`` adds its field (``masks``, ``keypoints``) to each image's
    detections, ``grid`` holding the rows of all images' detections in order."""

    loss_name: str
    loss_kind: TaskKind
    grid: int

    def loss(
        self, grid: Tensor, regions: PositiveRegions, targets: Sequence[Detections]
    ) -> Tensor: ...

    def annotate(
        self, grid: Tensor, dets: list[Detections], size: tuple[int, int]
    ) -> list[Detections]: ...
