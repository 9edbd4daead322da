"""R-CNN, Fast R-CNN and Faster R-CNN (and the sliding window) built from one spec.

Each is a :class:`~regionlab.models.detection.regions.RegionDetector`; only the proposer and
the cropper differ (see that module's table)::

    sliding-window  WindowProposer            ImageCropper(warp)           class-agnostic box
    rcnn            SelectiveSearchProposer   ImageCropper(warp | pad, 16 px context)
    fast-rcnn       SelectiveSearchProposer   FeatureCropper(RoIPool | RoIAlign)
    faster-rcnn     RPN                       FeatureCropper(RoIAlign | RoIPool)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from regionlab.models.backbones import build_encoder
from regionlab.models.detection.csp import CSPBackbone
from regionlab.models.detection.regions import (
    RPN,
    BoxHead,
    FeatureCropper,
    ImageCropper,
    RegionDetector,
    RegionSampler,
    SelectiveSearchProposer,
)
from regionlab.models.localization.net import PooledNeck
from regionlab.models.losses import MultiTaskLoss
from regionlab.ops.anchors import AnchorGenerator
from regionlab.ops.boxes import BoxCoder
from regionlab.ops.matcher import Matcher
from regionlab.ops.sampler import BalancedSampler

REGION_MODELS = ("rcnn", "fast-rcnn", "faster-rcnn")
DEFAULT_CACHE = Path.home() / ".cache" / "regionlab" / "proposals"


@dataclass
class RegionSpec:
    """Everything :func:`build_region_detector` needs (plain values, stored in checkpoints).

    - ``model``: ``rcnn | fast-rcnn | faster-rcnn``; ``num_classes``: ``C`` (labels ``1 .. C``).
    - R-CNN's crops: ``crop_size`` (the warped side), ``crop`` (``warp | pad``), ``context``
      (pixels of context at the warped scale, the paper's 16), ``crop_widths`` (its CNN).
    - Fast / Faster R-CNN: ``backbone`` (``csp`` with ``widths`` / ``depths``, or a torchvision
      name with ``pretrained`` a local state dict), ``stride`` of the map cropped, ``roi``
      (``align | pool``), ``roi_size``, ``roi_channels``, ``hidden``.
    - selective search: ``ss_mode`` (``fast | quality``), ``ss_top`` proposals kept,
      ``ss_max_side`` (downscale first), ``cache`` (folder, default ``~/.cache/regionlab/
      proposals``).
    - RPN: ``anchor_sizes`` and ``anchor_ratios`` (height / width) at ``stride``;
      ``rpn_pre_nms`` / ``rpn_post_nms`` (training), ``rpn_test_pre_nms`` /
      ``rpn_test_post_nms``.
    - second stage: ``samples`` regions per image, ``positive`` fraction at most, ``fg_iou`` /
      ``bg_iou``; ``loss_weights``; inference ``score_thresh``, ``nms_iou``, ``max_det``.
    """

    model: str
    num_classes: int
    crop_size: int = 64
    crop: str = "warp"
    context: int = 8
    crop_widths: list[int] = field(default_factory=lambda: [16, 32, 64, 128])
    backbone: str = "csp"
    widths: list[int] = field(default_factory=lambda: [16, 32, 64, 128, 256])
    depths: list[int] = field(default_factory=lambda: [0, 1, 1, 1])
    pretrained: str | None = None
    stride: int = 16
    roi: str = "align"
    roi_size: int = 7
    roi_channels: int = 64
    hidden: int = 256
    ss_mode: str = "fast"
    ss_top: int = 2000
    ss_max_side: int | None = None
    cache: str | None = None
    anchor_sizes: list[float] = field(default_factory=lambda: [32.0, 64.0, 128.0, 256.0])
    anchor_ratios: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])
    rpn_pre_nms: int = 1000
    rpn_post_nms: int = 300
    rpn_test_pre_nms: int = 600
    rpn_test_post_nms: int = 150
    samples: int = 128
    positive: float = 0.25
    fg_iou: float = 0.5
    bg_iou: float = 0.5
    loss_weights: dict[str, float] | None = None
    score_thresh: float = 0.001
    nms_iou: float = 0.5
    max_det: int = 100

    def __post_init__(self) -> None:
        if self.model not in REGION_MODELS:
            raise ValueError(f"model must be one of {REGION_MODELS}, got {self.model!r}")
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {self.num_classes}")

    def to_dict(self) -> dict:
        return asdict(self)


def _feature_cropper(spec: RegionSpec) -> FeatureCropper:
    if spec.backbone == "csp":
        backbone = CSPBackbone(spec.widths, spec.depths)
    else:
        backbone = build_encoder(
            spec.backbone, widths=tuple(spec.widths), pretrained=spec.pretrained
        )
    return FeatureCropper(backbone, spec.stride, spec.roi_channels, spec.roi, spec.roi_size,
                          spec.hidden)  # fmt: skip


def _proposal_cache(spec: RegionSpec):
    from regionlab.ops.proposals import ProposalCache

    return ProposalCache(spec.cache or DEFAULT_CACHE)


def build_region_detector(spec: RegionSpec) -> RegionDetector:
    """The detector ``spec.model`` names (see the module docstring)."""
    if spec.model == "rcnn":
        encoder = build_encoder("small", widths=tuple(spec.crop_widths))
        cropper = ImageCropper(encoder, PooledNeck(encoder.channels[-1], 4, spec.hidden),
                               spec.crop_size, spec.crop, spec.context)  # fmt: skip
    else:
        cropper = _feature_cropper(spec)
    if spec.model == "faster-rcnn":
        anchors = AnchorGenerator([spec.anchor_sizes], [spec.anchor_ratios], [spec.stride])
        proposer = RPN(cropper.channels, anchors, spec.rpn_pre_nms, spec.rpn_post_nms,
                       spec.rpn_test_pre_nms, spec.rpn_test_post_nms)  # fmt: skip
        tasks = {"cls": "classification", "box": "regression", "rpn_cls": "classification",
                 "rpn_box": "regression"}  # fmt: skip
    else:
        proposer = SelectiveSearchProposer(spec.ss_mode, spec.ss_top, spec.ss_max_side,
                                           _proposal_cache(spec))  # fmt: skip
        tasks = {"cls": "classification", "box": "regression"}
    head = BoxHead(spec.hidden, spec.num_classes)
    sampler = RegionSampler(
        Matcher(spec.fg_iou, spec.bg_iou), BalancedSampler(spec.samples, spec.positive)
    )
    loss = MultiTaskLoss(tasks, "fixed", dict(spec.loss_weights or {}))
    return RegionDetector(proposer, cropper, head, sampler, loss, BoxCoder(), spec.score_thresh,
                          spec.nms_iou, spec.max_det)  # fmt: skip
