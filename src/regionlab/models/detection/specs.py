"""One typed description of any detector of the library, stored in checkpoints, that builds
itself: ``spec.build()``.

:data:`DetectorSpec` is a tagged union: :class:`GridSpec` (``model="grid"``), :class:`WindowSpec`
(``"sliding-window"``) or :class:`~.region_spec.RegionSpec` (``"rcnn"``, ``"fast-rcnn"``,
``"faster-rcnn"``, ``"keypoint-rcnn"``, ``"mask-rcnn"``); the ``model`` field says which. No
registry: :func:`detector_spec_from_dict` reads any of them back, and the specs that checkpoints
of earlier versions stored (see :mod:`.legacy_specs`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from regionlab.models.detection.backbone import BackboneSpec
from regionlab.models.detection.build_grid import build_grid_detector
from regionlab.models.detection.build_region import build_window_detector
from regionlab.models.detection.legacy_specs import from_legacy, is_legacy, split_legacy_task_dict
from regionlab.models.detection.region_spec import REGION_MODELS, RegionSpec

DETECTORS = ("sliding-window", "grid", *REGION_MODELS)


def _tag(spec, model: str) -> None:
    if spec.model != model:
        raise ValueError(f"a {type(spec).__name__} describes {model!r}, not {spec.model!r}")
    if isinstance(spec.backbone, dict):  # from a checkpoint
        spec.backbone = BackboneSpec(**spec.backbone)
    if spec.num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {spec.num_classes}")


@dataclass
class GridSpec:
    """Everything :func:`build_grid_detector` needs (plain values, stored in checkpoints).

    - ``num_classes``: object classes ``C`` (labels ``1 .. C``; no background).
    - ``backbone``: a :class:`~.backbone.BackboneSpec` (default ``csp``: strides ``2, 4, ...``
      one per width).
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
    backbone: BackboneSpec = field(default_factory=BackboneSpec)
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

    model: str = "grid"

    def __post_init__(self) -> None:
        _tag(self, "grid")

    # No proposals to cache, no region heads: what the tasks ask of every spec.
    fixed_proposals, mask, num_keypoints = False, None, 0

    def to_dict(self) -> dict:
        return asdict(self)

    def build(self, proposal_cache=None):
        """The :class:`~.grid.GridDetector` (``proposal_cache``: unused, every spec builds
        alike)."""
        return build_grid_detector(self)


DEFAULT_WEIGHTS = {"tal": {"cls": 0.5, "box": 7.5, "l1": 1.5}, "iou": {"cls": 1.0, "box": 1.0}}


@dataclass
class WindowSpec:
    """The sliding window. ``sizes``: window sides as fractions of the input side; ``aspects``:
    height / width; ``stride``: the step between windows as a fraction of their side;
    ``window``: the side each crop is warped to; ``backbone``: the CNN run on every crop
    (default ``small``); ``samples``: windows per training image (``positive`` of them objects
    at most); ``chunk``: windows per classifier pass at inference."""

    num_classes: int
    window: int = 48
    backbone: BackboneSpec = field(default_factory=lambda: BackboneSpec("small"))
    sizes: list[float] = field(default_factory=lambda: [0.2, 0.35, 0.5, 0.7, 0.9])
    aspects: list[float] = field(default_factory=lambda: [1.0, 2.0])
    stride: float = 0.25
    samples: int = 48
    positive: float = 0.5
    jitter: int = 8  # jittered copies of each ground-truth box among the training windows
    loss_weight: float = 1.0
    hidden: int = 256
    score_thresh: float = 0.001
    nms_iou: float = 0.5
    max_det: int = 100
    chunk: int = 512
    model: str = "sliding-window"

    def __post_init__(self) -> None:
        _tag(self, "sliding-window")

    # No proposals to cache, no region heads: what the tasks ask of every spec.
    fixed_proposals, mask, num_keypoints = False, None, 0

    def to_dict(self) -> dict:
        return asdict(self)

    def build(self, proposal_cache=None):
        """The :class:`~.region_detector.RegionDetector` of every window."""
        return build_window_detector(self)


#: Any detector's spec; ``spec.model`` tells which.
DetectorSpec = GridSpec | WindowSpec | RegionSpec


def detector_spec_from_dict(d: dict) -> DetectorSpec:
    """A spec from its :meth:`to_dict` (or what a checkpoint of an earlier version stored)."""
    d = from_legacy(d) if is_legacy(d) else dict(d)
    model = d.get("model")
    if model == "grid":
        return GridSpec(**d)
    if model == "sliding-window":
        return WindowSpec(**d)
    if model in REGION_MODELS:
        return RegionSpec(**d)
    raise ValueError(f"unknown detector {model!r}; choose {', '.join(DETECTORS)}")


def split_task_dict(d: dict) -> tuple[DetectorSpec, dict]:
    """A task checkpoint's ``spec`` (``{"detector": {...}, **task fields}``, or an earlier
    format) -> (the detector's spec, the task's own fields)."""
    if "detector" in d:
        return detector_spec_from_dict(d["detector"]), {k: v for k, v in d.items()
                                                         if k != "detector"}  # fmt: skip
    spec, rest = split_legacy_task_dict(d)
    return detector_spec_from_dict(spec), rest
