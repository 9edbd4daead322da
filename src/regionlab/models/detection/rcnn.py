"""R-CNN, Fast R-CNN and Faster R-CNN (and the sliding window) built from one spec.

Each is a :class:`~regionlab.models.detection.regions.RegionDetector`; only the proposer and
the cropper differ (see that module's table)::

    sliding-window  WindowProposer            ImageCropper(warp)           class-agnostic box
    rcnn            SelectiveSearchProposer   ImageCropper(warp | pad, 16 px context)
    fast-rcnn       SelectiveSearchProposer   FeatureCropper(RoIPool | RoIAlign)
    faster-rcnn     RPN                       FeatureCropper(RoIAlign | RoIPool)
    ... with fpn    RPN on every level            PyramidCropper(RoIAlign | RoIPool)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from regionlab.models.backbones import build_encoder
from regionlab.models.detection.csp import CSPBackbone, PANNeck
from regionlab.models.detection.regions import (
    RPN,
    BoxHead,
    FeatureCropper,
    ImageCropper,
    PyramidCropper,
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
      (``align | pool``), ``roi_size``, ``roi_sampling`` (RoIAlign's samples per bin side),
      ``roi_channels``, ``hidden``.
    - ``fpn``: a feature pyramid instead of one map (:class:`PyramidCropper`: the backbone's
      maps at ``fpn_strides`` through an FPN + PAN neck of ``neck_depth``, regions read from
      the level of their size, ``canonical`` px at stride 16); the RPN then slides over every
      level with anchors of ``anchor_scales`` times the level's stride (``stride`` and
      ``anchor_sizes`` are not used).
    - selective search: ``ss_mode`` (``fast | quality``), ``ss_top`` proposals kept,
      ``ss_max_side`` (downscale first), ``cache`` (folder, default ``~/.cache/regionlab/
      proposals``).
    - RPN: ``anchor_sizes`` and ``anchor_ratios`` (height / width) at ``stride``;
      ``rpn_pre_nms`` / ``rpn_post_nms`` (training), ``rpn_test_pre_nms`` /
      ``rpn_test_post_nms``.
    - second stage: ``samples`` regions per image, ``positive`` fraction at most, ``fg_iou`` /
      ``bg_iou``; ``box_loss`` (``smooth_l1 | giou``); ``loss_weights``; inference
      ``score_thresh``, ``nms_iou``, ``max_det``.
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
    # One bilinear sample per bin (RoIAlign's backward is a third of a CPU step at 2 x 2) and
    # up to half positives: measured on Penn-Fudan (15 min, FPN Faster R-CNN), AP50 0.860 / AP
    # 0.381 against 0.856 / 0.362 with 2 x 2 samples and a quarter positives, at 11% more steps.
    roi_sampling: int = 1
    roi_channels: int = 64
    hidden: int = 256
    ss_mode: str = "fast"
    ss_top: int = 2000
    ss_max_side: int | None = None
    cache: str | None = None
    fpn: bool = False
    fpn_strides: list[int] = field(default_factory=lambda: [8, 16, 32])
    neck_depth: int = 1
    canonical: float = 112.0
    anchor_scales: list[float] = field(default_factory=lambda: [4.0, 8.0])
    anchor_sizes: list[float] = field(default_factory=lambda: [32.0, 64.0, 128.0, 256.0])
    anchor_ratios: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])
    rpn_pre_nms: int = 1000
    rpn_post_nms: int = 300
    rpn_test_pre_nms: int = 600
    rpn_test_post_nms: int = 150
    samples: int = 128
    positive: float = 0.5
    fg_iou: float = 0.5
    bg_iou: float = 0.5
    box_loss: str = "smooth_l1"
    loss_weights: dict[str, float] | None = None
    score_thresh: float = 0.001
    nms_iou: float = 0.5
    max_det: int = 100

    # Values of fields added later, for specs stored before them (a stored spec holds every
    # field it had): what those checkpoints were built with.
    LEGACY = {"roi_sampling": 2}

    def __post_init__(self) -> None:
        if self.model not in REGION_MODELS:
            raise ValueError(f"model must be one of {REGION_MODELS}, got {self.model!r}")
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {self.num_classes}")
        s = list(self.fpn_strides)
        if self.fpn and (not s or any(b != 2 * a for a, b in zip(s, s[1:]))):
            raise ValueError(f"fpn_strides must double from level to level, finest first: {s}")

    def to_dict(self) -> dict:
        return asdict(self)


def _feature_cropper(spec: RegionSpec) -> FeatureCropper | PyramidCropper:
    if spec.backbone == "csp":
        backbone = CSPBackbone(spec.widths, spec.depths)
    else:
        backbone = build_encoder(
            spec.backbone, widths=tuple(spec.widths), pretrained=spec.pretrained
        )
    if spec.fpn:
        missing = [s for s in spec.fpn_strides if s not in backbone.strides]
        if missing or not spec.fpn_strides:
            raise ValueError(f"fpn_strides {spec.fpn_strides}: backbone {spec.backbone!r} has "
                             f"{backbone.strides}")  # fmt: skip
        in_ch = [backbone.channels[backbone.strides.index(s)] for s in spec.fpn_strides]
        # A torchvision backbone's 512-2048 channels are fused at 256 at most: the neck's
        # cost grows with the square of its width.
        neck = PANNeck(in_ch, [min(c, 256) for c in in_ch], spec.neck_depth)
        return PyramidCropper(backbone, neck, spec.fpn_strides, spec.roi_channels, spec.roi,
                              spec.roi_size, spec.hidden, spec.canonical, spec.roi_sampling)  # fmt: skip
    return FeatureCropper(backbone, spec.stride, spec.roi_channels, spec.roi, spec.roi_size,
                          spec.hidden, spec.roi_sampling)  # fmt: skip


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
        if spec.fpn:
            strides = spec.fpn_strides
            sizes = [[k * st for k in spec.anchor_scales] for st in strides]
        else:
            strides, sizes = [spec.stride], [spec.anchor_sizes]
        anchors = AnchorGenerator(sizes, [spec.anchor_ratios] * len(strides), strides)
        proposer = RPN(cropper.channels, anchors, spec.rpn_pre_nms, spec.rpn_post_nms,
                       spec.rpn_test_pre_nms, spec.rpn_test_post_nms)  # fmt: skip
        tasks = {"cls": "classification", "box": "regression", "rpn_cls": "classification",
                 "rpn_box": "regression"}  # fmt: skip
    else:
        proposer = SelectiveSearchProposer(spec.ss_mode, spec.ss_top, spec.ss_max_side,
                                           _proposal_cache(spec))  # fmt: skip
        tasks = {"cls": "classification", "box": "regression"}
    head = BoxHead(spec.hidden, spec.num_classes, box_loss=spec.box_loss)
    sampler = RegionSampler(
        Matcher(spec.fg_iou, spec.bg_iou), BalancedSampler(spec.samples, spec.positive)
    )
    loss = MultiTaskLoss(tasks, "fixed", dict(spec.loss_weights or {}))
    return RegionDetector(proposer, cropper, head, sampler, loss, BoxCoder(), spec.score_thresh,
                          spec.nms_iou, spec.max_det)  # fmt: skip
