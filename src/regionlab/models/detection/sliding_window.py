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
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import batched_nms, box_iou, clip_boxes_to_image, roi_align

from regionlab.models.backbones import Normalize, build_encoder
from regionlab.models.detection.output import DetectionOutput
from regionlab.models.localization.net import PooledNeck
from regionlab.models.losses import MultiTaskLoss, regression_loss
from regionlab.ops.anchors import AnchorGenerator
from regionlab.ops.boxes import BoxCoder
from regionlab.ops.detections import Detections
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


class SlidingWindowDetector(nn.Module):
    """``forward(images float (N, 3, S, S) in [0, 1], targets=None, generator=None)`` ->
    :class:`DetectionOutput` (boxes ``xyxy`` in input pixels)."""

    needs_generator = True

    def __init__(self, spec: WindowSpec) -> None:
        super().__init__()
        self.spec = spec
        self.normalize = Normalize()
        self.encoder = build_encoder("small", widths=tuple(spec.widths))
        self.neck = PooledNeck(self.encoder.channels[-1], 4, spec.hidden)
        self.cls_head = nn.Linear(spec.hidden, spec.num_classes + 1)
        self.box_head = nn.Linear(spec.hidden, 4)
        self.loss = MultiTaskLoss(
            {"cls": "classification", "box": "regression"}, "fixed", {"box": spec.loss_weight}
        )
        self.coder = BoxCoder()
        self.matcher = Matcher(0.5, 0.3)
        self.sampler = BalancedSampler(spec.samples, spec.positive)
        self._windows: dict[int, Tensor] = {}

    # ------------------------------------------------------------------ windows

    def windows(self, size: int, device) -> Tensor:
        """All sliding windows ``(W, 4)`` ``xyxy`` of a ``size x size`` input whose centre
        lies inside it: one level of ``AnchorGenerator`` per window size, its stride a fixed
        fraction of that size."""
        if size not in self._windows:
            sides = [s * size for s in self.spec.sizes]
            strides = [max(1.0, self.spec.stride * side) for side in sides]
            grid = AnchorGenerator(
                [(side,) for side in sides], [tuple(self.spec.aspects)] * len(sides), strides
            )
            cells = [(max(1, round(size / s)),) * 2 for s in strides]
            w = torch.cat(grid(cells))
            c = (w[:, :2] + w[:, 2:]) / 2
            self._windows[size] = w[((c >= 0) & (c < size)).all(dim=1)]
        return self._windows[size].to(device)

    def num_windows(self, size: int) -> int:
        """Windows (so classifier passes) one ``size x size`` image costs."""
        return len(self.windows(size, "cpu"))

    def _classify(self, images: Tensor, boxes: list[Tensor]) -> tuple[Tensor, Tensor]:
        s = self.spec.window
        crops = roi_align(images, boxes, (s, s), spatial_scale=1.0, sampling_ratio=2, aligned=True)
        h = self.neck(self.encoder(self.normalize(crops)).features[-1])
        return self.cls_head(h), self.box_head(h)

    # ------------------------------------------------------------------ training windows

    def _training_windows(
        self, windows: Tensor, target: Detections, gen: torch.Generator
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Sampled windows ``(K, 4)``, their class labels ``(K,)`` (0 background) and matched
        ground-truth boxes ``(K, 4)``."""
        real = target.not_crowd()
        cand = windows
        if len(real) and self.spec.jitter:
            b = real.boxes.repeat_interleave(self.spec.jitter, dim=0)
            wh = (b[:, 2:] - b[:, :2]).repeat(1, 2)
            shift = (torch.rand(b.shape, generator=gen) - 0.5).to(b) * 0.3 * wh
            cand = torch.cat([windows, b + shift])
        if len(target):
            matches = self.matcher(box_iou(target.boxes, cand), target.iscrowd)
        else:
            matches = torch.full((len(cand),), -1, dtype=torch.int64, device=cand.device)
        pos, neg = self.sampler(matches, gen)
        idx = torch.cat([pos, neg])
        labels = torch.zeros(len(idx), dtype=torch.int64, device=cand.device)
        gt = cand[idx].clone()
        if len(pos):
            labels[: len(pos)] = target.labels[matches[pos]]
            gt[: len(pos)] = target.boxes[matches[pos]]
        return cand[idx], labels, gt

    def _losses(self, images: Tensor, targets: list[Detections], gen: torch.Generator):
        windows = self.windows(images.shape[-1], images.device)
        picked = [self._training_windows(windows, t, gen) for t in targets]
        boxes = [p[0] for p in picked]
        labels = torch.cat([p[1] for p in picked])
        gts = torch.cat([p[2] for p in picked])
        logits, deltas = self._classify(images, boxes)
        pos = labels > 0
        ref = torch.cat(boxes)
        box_target = self.coder.encode(ref[pos], gts[pos]) if pos.any() else deltas[:0]
        losses = {
            "cls": F.cross_entropy(logits, labels),
            "box": regression_loss(deltas[pos], box_target, "smooth_l1")
            if pos.any()
            else deltas.sum() * 0.0,
        }
        return losses

    # ------------------------------------------------------------------ inference

    @torch.no_grad()
    def _detect(self, images: Tensor) -> list[Detections]:
        size = images.shape[-1]
        windows = self.windows(size, images.device)
        out = []
        for img in images:
            probs, boxes = [], []
            for part in windows.split(self.spec.chunk):
                logits, deltas = self._classify(img[None], [part])
                probs.append(logits.float().softmax(1))
                boxes.append(self.coder.decode(deltas.float(), part))
            prob, box = torch.cat(probs), torch.cat(boxes)
            score, label = prob[:, 1:].max(1)
            keep = score > self.spec.score_thresh
            box = clip_boxes_to_image(box[keep], (size, size))
            score, label = score[keep], label[keep] + 1
            ok = (box[:, 2] > box[:, 0]) & (box[:, 3] > box[:, 1])
            box, score, label = box[ok], score[ok], label[ok]
            keep = batched_nms(box, score, label, self.spec.nms_iou)[: self.spec.max_det]
            out.append(Detections(box[keep], label[keep], score[keep]))
        return out

    def forward(
        self,
        images: Tensor,
        targets: list[Detections] | None = None,
        generator: torch.Generator | None = None,
    ) -> DetectionOutput:
        out = DetectionOutput(lambda: self._detect(images.detach()))
        if targets is not None:
            gen = generator if generator is not None else torch.Generator().manual_seed(0)
            out.losses = self._losses(images, targets, gen)
            out.loss = self.loss(out.losses)
            out.weights = self.loss.effective_weights()
        return out
