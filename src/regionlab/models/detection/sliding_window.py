"""The sliding-window detector: classification + localization applied to every window.

The lecture's first detector ("slide a window and do classification and localization for that
window ... nobody does this"): windows of several sizes and aspect ratios slide over the image
with a stride proportional to their size (``ops.anchors.AnchorGenerator``, one level per window
size); each window is cropped and warped to ``window x window`` pixels
(``torchvision.ops.roi_align`` on the image itself) and a small CNN — the localization net's
encoder and pooled neck — scores ``C + 1`` classes (0 = background) and regresses the object's
box relative to the window (``ops.boxes.BoxCoder``). Non-maximum suppression merges the
windows that fire on one object.

Training samples windows per image: all sliding windows plus jittered copies of the ground-truth
boxes (so every object has well-placed positives), matched by IoU (``ops.matcher.Matcher``:
foreground >= 0.5, background < 0.3, crowds ignored) and balanced by
``ops.sampler.BalancedSampler`` driven by the generator the task passes in.

Cost is the point: every window is a full CNN forward pass; :meth:`SlidingWindowDetector.
num_windows` says how many one image needs.

It is a :class:`~regionlab.models.detection.regions.RegionDetector` whose proposer is the fixed
window grid and whose cropper cuts the image: R-CNN changes only the proposer (selective search)
and adds context around each crop.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from regionlab.models.backbones import build_encoder
from regionlab.models.detection.regions import (
    BoxHead,
    ImageCropper,
    RegionDetector,
    RegionSampler,
    WindowProposer,
)
from regionlab.models.localization.net import PooledNeck
from regionlab.models.losses import MultiTaskLoss
from regionlab.ops.boxes import BoxCoder
from regionlab.ops.matcher import Matcher
from regionlab.ops.sampler import BalancedSampler


@dataclass
class WindowSpec:
    """``sizes``: window sides as fractions of the input side; ``aspects``: height / width;
    ``stride``: the step between windows as a fraction of their side; ``window``: the side each
    crop is warped to; ``samples``: windows per training image (``positive`` of them objects
    at most); ``chunk``: windows per classifier pass at inference."""

    num_classes: int
    window: int = 48
    widths: list[int] = field(default_factory=lambda: [16, 32, 64, 128])
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

    def to_dict(self) -> dict:
        return asdict(self)


class SlidingWindowDetector(RegionDetector):
    """``forward(images float (N, 3, S, S) in [0, 1], targets=None, generator=None)`` ->
    :class:`DetectionOutput` (boxes ``xyxy`` in input pixels): every window warped to
    ``window x window`` through the localization net's encoder and pooled neck, ``C + 1``
    scores and one class-agnostic box per window (the localization net's heads)."""

    def __init__(self, spec: WindowSpec) -> None:
        encoder = build_encoder("small", widths=tuple(spec.widths))
        neck = PooledNeck(encoder.channels[-1], 4, spec.hidden)
        super().__init__(
            WindowProposer(spec.sizes, spec.aspects, spec.stride),
            ImageCropper(encoder, neck, spec.window, "warp", 0, spec.chunk),
            BoxHead(spec.hidden, spec.num_classes, class_specific=False),
            RegionSampler(
                Matcher(0.5, 0.3),
                BalancedSampler(spec.samples, spec.positive),
                jitter=spec.jitter,
                add_gt=False,
            ),  # fmt: skip
            MultiTaskLoss(
                {"cls": "classification", "box": "regression"}, "fixed", {"box": spec.loss_weight}
            ),  # fmt: skip
            BoxCoder(),
            spec.score_thresh,
            spec.nms_iou,
            spec.max_det,
        )
        self.spec = spec
        self._register_load_state_dict_pre_hook(_rename_standalone_keys)

    def num_windows(self, size: int) -> int:
        """Windows (so classifier passes) one ``size x size`` image costs."""
        return len(self.proposer.windows((size, size), "cpu"))


# Before it became a RegionDetector the sliding window had its parts at the top level.
_OLD_KEYS = {"encoder.": "cropper.encoder.", "neck.": "cropper.neck.", "cls_head.": "head.cls.",
             "box_head.": "head.box."}  # fmt: skip


def _rename_standalone_keys(state_dict, prefix, *args) -> None:
    for key in list(state_dict):
        for old, new in _OLD_KEYS.items():
            if key.startswith(prefix + old):
                state_dict[prefix + new + key[len(prefix + old) :]] = state_dict.pop(key)
