"""The spec of every region detector: R-CNN, Fast R-CNN, Faster R-CNN, Mask R-CNN and Keypoint
R-CNN are values of one :class:`RegionSpec` (plain values, stored in checkpoints) that builds
itself."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from regionlab.models.detection.backbone import BackboneSpec
from regionlab.models.detection.build_region import build_region_detector

#: The region detectors, by their proposer and heads (see :mod:`regionlab.models.detection`).
REGION_MODELS = ("rcnn", "fast-rcnn", "faster-rcnn", "mask-rcnn", "keypoint-rcnn")
#: Those whose proposals come from selective search (slow, unlearned, cached per image).
SELECTIVE_SEARCH = ("rcnn", "fast-rcnn")


@dataclass
class MaskHeadSpec:
    """Mask R-CNN's mask head: ``size`` (``m``, the paper's 28; it reads an ``m / 2`` RoI
    grid), ``loss`` (``sigmoid``: one mask per class, the paper's; ``softmax``: its
    ablation), ``convs`` ``3x3`` convolutions of ``width`` channels, ``score`` how masks are
    ranked and ``threshold`` where a mask's probability keeps a pixel (both at test time)."""

    size: int = 28
    loss: str = "sigmoid"
    # 4 convolutions of 32 (torchvision: 256), chosen again on a split no report reads (Penn-
    # Fudan images 40-169, 15 min, 1 thread, 3 seeds): mask AP 0.442 +- 0.014 and mask AP50
    # 0.865 +- 0.012 at 939 steps against 0.415 +- 0.007 / 0.848 +- 0.012 at 724 steps with 64
    # (results/compare_instance-pennfudan-mask-width.json)
    width: int = 32
    convs: int = 4
    # how masks are ranked (region_heads.SCORES): maskness, chosen by mask AP on the tune
    # splits of 3 Penn-Fudan comparisons (12 runs: +0.009 +- 0.005, up in all 12). On their
    # report splits: mask AP +0.014 +- 0.007, mask AP75 +0.046, mask AP50 -0.008 +- 0.015
    # (benchmarks/mask_score.py, results/mask_score.json). Boxes keep the box score: ranked by
    # maskness too, box AP50 was -0.010 +- 0.014 there
    score: str = "maskness"
    # the probability at which a predicted mask keeps a pixel (evaluation, prediction, export;
    # maskness keeps its own 0.5): 0.4, chosen by mask AP on the same 12 runs' tune splits
    # (+0.009 +- 0.005, up in all 12); on their report splits mask AP +0.000 +- 0.007 and
    # mask AP50 +0.007 +- 0.009, within noise (benchmarks/mask_score.py --setting threshold)
    threshold: float = 0.4

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"mask threshold must be in (0, 1), got {self.threshold}")


@dataclass
class KeypointHeadSpec:
    """The keypoint head: ``num_keypoints`` heatmaps of ``size x size`` (from an ``size / 2``
    RoI grid) through ``convs`` ``3x3`` convolutions of ``width`` channels."""

    num_keypoints: int
    size: int = 28
    width: int = 32
    convs: int = 4


@dataclass
class RegionSpec:
    """Everything a region detector needs.

    - ``model``: one of :data:`REGION_MODELS`; ``num_classes``: ``C`` (labels ``1 .. C``).
    - ``backbone``: a :class:`BackboneSpec` (default: ``small`` for R-CNN's crops, ``csp``
      otherwise).
    - R-CNN's crops: ``crop_size`` (the warped side), ``crop`` (``warp | pad``), ``context``
      (pixels of context at the warped scale, the paper's 16).
    - feature croppers: ``stride`` of the one map cropped, ``roi`` (``align | pool``),
      ``roi_size``, ``roi_sampling`` (RoIAlign's samples per bin side), ``roi_channels``,
      ``hidden``.
    - ``fpn``: a feature pyramid instead of one map (the backbone's maps at ``fpn_strides``
      through an FPN + PAN neck of ``neck_depth``, regions read from the level of their size,
      ``canonical`` px at stride 16); the RPN then slides over every level with anchors of
      ``anchor_scales`` times the level's stride (``stride`` and ``anchor_sizes`` unused).
    - selective search: ``ss_mode`` (``fast | quality``), ``ss_top`` proposals kept,
      ``ss_max_side`` (downscale first), ``cache`` (a folder the user chose; ``None``: the
      task's default).
    - RPN: ``anchor_sizes`` and ``anchor_ratios`` (height / width) at ``stride``;
      ``rpn_pre_nms`` / ``rpn_post_nms`` (training), ``rpn_test_pre_nms`` /
      ``rpn_test_post_nms``.
    - second stage: ``samples`` regions per image, ``positive`` fraction at most, ``fg_iou`` /
      ``bg_iou``; ``box_loss`` (``smooth_l1 | giou``); ``loss_weights``; inference
      ``score_thresh``, ``nms_iou``, ``max_det``.
    - region heads: ``mask`` (``mask-rcnn``), ``keypoint`` (``keypoint-rcnn``, or both on
      ``mask-rcnn``); they read at most ``head_rois`` positive regions per image (``0``: all).
    """

    model: str
    num_classes: int
    crop_size: int = 64
    crop: str = "warp"
    context: int = 8
    backbone: BackboneSpec | None = None
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
    mask: MaskHeadSpec | None = None
    keypoint: KeypointHeadSpec | None = None
    head_rois: int = 16

    def __post_init__(self) -> None:
        if self.model not in REGION_MODELS:
            raise ValueError(f"model must be one of {REGION_MODELS}, got {self.model!r}")
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {self.num_classes}")
        if isinstance(self.backbone, dict):  # from a checkpoint
            self.backbone = BackboneSpec(**self.backbone)
        if self.backbone is None:
            self.backbone = BackboneSpec("small" if self.model == "rcnn" else "csp")
        if isinstance(self.mask, dict):
            # a checkpoint saved before the score (threshold) was a choice ranked by its boxes
            # (kept pixels from 0.5): it still does, so an old run scores as it did when its
            # best.pt was chosen
            self.mask = MaskHeadSpec(**{"score": "box", "threshold": 0.5, **self.mask})
        if isinstance(self.keypoint, dict):
            self.keypoint = KeypointHeadSpec(**self.keypoint)
        if self.model == "mask-rcnn" and self.mask is None:
            self.mask = MaskHeadSpec()
        self._check_heads()
        s = list(self.fpn_strides)
        if self.fpn and (not s or any(b != 2 * a for a, b in zip(s, s[1:]))):
            raise ValueError(f"fpn_strides must double from level to level, finest first: {s}")
        if self.fpn and self.model == "rcnn":
            raise ValueError("fpn reads regions from feature maps: fast-rcnn or faster-rcnn "
                             "(rcnn crops the image)")  # fmt: skip

    def _check_heads(self) -> None:
        if self.model != "mask-rcnn" and self.mask is not None:
            raise ValueError(f"a mask head makes it mask-rcnn, not {self.model!r}")
        if self.model == "keypoint-rcnn" and self.keypoint is None:
            raise ValueError("keypoint-rcnn needs a keypoint head (KeypointHeadSpec)")
        if self.model not in ("mask-rcnn", "keypoint-rcnn") and self.keypoint is not None:
            raise ValueError(f"a keypoint head rides on keypoint-rcnn or mask-rcnn, not "
                             f"{self.model!r}")  # fmt: skip
        for head in (self.mask, self.keypoint):
            if head is not None and (head.size < 4 or head.size % 2):
                raise ValueError(f"a region head's size must be an even number >= 4, got "
                                 f"{head.size}")  # fmt: skip
        if self.keypoint is not None and self.keypoint.num_keypoints < 1:
            raise ValueError(f"num_keypoints must be >= 1, got {self.keypoint.num_keypoints}")
        if self.head_rois < 0:
            raise ValueError(f"head_rois must be >= 0, got {self.head_rois}")

    @property
    def fixed_proposals(self) -> bool:
        """Whether the proposals come from a slow, unlearned method cached per image (R-CNN,
        Fast R-CNN): training images must then repeat exactly (flips only)."""
        return self.model in SELECTIVE_SEARCH

    @property
    def num_keypoints(self) -> int:
        return self.keypoint.num_keypoints if self.keypoint is not None else 0

    def to_dict(self) -> dict:
        return asdict(self)

    def build(self, proposal_cache=None):
        """The :class:`~regionlab.models.detection.region_detector.RegionDetector` this spec
        describes; ``proposal_cache``: where selective search keeps its boxes (a
        :class:`~regionlab.ops.proposals.ProposalCache`; ``None``: computed every time)."""
        return build_region_detector(self, proposal_cache)
