"""Region-based detection: a proposer, a cropper and one box head -- the sliding window, R-CNN,
Fast R-CNN and Faster R-CNN are four settings of :class:`RegionDetector`.

The lecture's line, as the three parts that change and the ones that stay:

=================  ==========================  ======================================
detector           proposer (where to look)    cropper (what each region looks like)
=================  ==========================  ======================================
sliding window     every window (fixed grid)   image crop, warped, own CNN per crop
R-CNN              selective search            image crop + context, warped or padded
Fast R-CNN         selective search            RoIPool / RoIAlign on one feature map
Faster R-CNN       region proposal network     RoIAlign / RoIPool on one feature map
  + FPN            RPN on every pyramid level  the pyramid level that fits the region
=================  ==========================  ======================================

What every one of them shares: the :class:`RegionSampler` (an IoU
:class:`~regionlab.ops.matcher.Matcher` labels each region with an object or background, a
generator-driven :class:`~regionlab.ops.sampler.BalancedSampler` picks the regions trained on),
the :class:`BoxHead` (``C + 1`` softmax scores, 0 background, and class-specific
:class:`~regionlab.ops.boxes.BoxCoder` deltas; a softmax rather than R-CNN's per-class SVMs, as
Fast R-CNN showed it is as good and trains in one piece), the losses (cross-entropy + smooth L1
through :class:`~regionlab.models.losses.MultiTaskLoss`) and the inference (per-class decoding,
class-aware NMS, the best ``max_det``).

Boxes are ``xyxy`` pixels of the input tensor everywhere; labels ``1 .. C``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import (
    batched_nms,
    box_iou,
    clip_boxes_to_image,
    generalized_box_iou_loss,
    remove_small_boxes,
    roi_align,
    roi_pool,
)

from regionlab.models.backbones import Normalize
from regionlab.models.detection.output import DetectionOutput
from regionlab.models.losses import MultiTaskLoss
from regionlab.ops.anchors import AnchorGenerator
from regionlab.ops.boxes import BoxCoder
from regionlab.ops.detections import Detections
from regionlab.ops.matcher import Matcher
from regionlab.ops.sampler import BalancedSampler

# --------------------------------------------------------------------------- sampling


@dataclass
class RegionTargets:
    """The regions one batch trains on: ``rois`` one ``(K_i, 4)`` tensor per image; ``labels``
    ``int64 (K,)`` over all images (0 background); ``boxes`` ``(K, 4)`` the matched ground
    truth (meaningful where ``labels > 0``); ``matched`` one ``int64 (K_i,)`` per image: the
    index of each region's object in that image's targets (``-1`` for background), so the
    mask head finds each positive's own mask."""

    rois: list[Tensor]
    labels: Tensor
    boxes: Tensor
    matched: list[Tensor] | None = None


class RegionSampler:
    """Labels proposals by IoU with the objects and samples a balanced set per image.

    The ground-truth boxes join the proposals (so every object has a perfect positive from the
    first step), and with ``jitter > 0`` as many randomly shifted copies each (up to 15% of the
    object's size: positives placed as a proposer would place them, which a fixed window grid
    rarely does). Crowd objects are never matched, and regions over a crowd are not background
    (:class:`~regionlab.ops.matcher.Matcher`)."""

    def __init__(
        self, matcher: Matcher, sampler: BalancedSampler, jitter: int = 0, add_gt: bool = True
    ) -> None:
        self.matcher, self.sampler, self.jitter, self.add_gt = matcher, sampler, jitter, add_gt

    def __call__(
        self, proposals: Sequence[Tensor], targets: Sequence[Detections], gen: torch.Generator
    ) -> RegionTargets:
        rois, labels, boxes, matched = [], [], [], []
        for props, target in zip(proposals, targets):
            cand = props.detach()
            real = target.not_crowd()
            if self.add_gt and len(real):
                extra = [real.boxes]
                if self.jitter:
                    b = real.boxes.repeat_interleave(self.jitter, dim=0)
                    wh = (b[:, 2:] - b[:, :2]).repeat(1, 2)
                    extra.append(b + (torch.rand(b.shape, generator=gen).to(b) - 0.5) * 0.3 * wh)
                cand = torch.cat([cand, *extra])
            if len(target):
                matches = self.matcher(box_iou(target.boxes, cand), target.iscrowd)
            else:
                matches = torch.full((len(cand),), -1, dtype=torch.int64, device=cand.device)
            pos, neg = self.sampler(matches, gen)
            idx = torch.cat([pos, neg])
            lab = torch.zeros(len(idx), dtype=torch.int64, device=cand.device)
            gt = cand[idx].clone()
            obj = torch.full((len(idx),), -1, dtype=torch.int64, device=cand.device)
            if len(pos):
                lab[: len(pos)] = target.labels[matches[pos]]
                gt[: len(pos)] = target.boxes[matches[pos]]
                obj[: len(pos)] = matches[pos]
            rois.append(cand[idx])
            labels.append(lab)
            boxes.append(gt)
            matched.append(obj)
        return RegionTargets(rois, torch.cat(labels), torch.cat(boxes), matched)


# --------------------------------------------------------------------------- box head


class BoxHead(nn.Module):
    """Region features ``(R, D)`` -> class logits ``(R, C + 1)`` (column 0 background) and
    box deltas ``(R, C, 4)`` (one box per class, R-CNN's class-specific regression; ``(R, 1,
    4)`` with ``class_specific=False``)."""

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        class_specific: bool = True,
        box_loss: str = "smooth_l1",
    ) -> None:
        super().__init__()
        if box_loss not in ("smooth_l1", "giou"):
            raise ValueError(f"box_loss must be smooth_l1 or giou, got {box_loss!r}")
        self.num_classes, self.box_loss = num_classes, box_loss
        self.k = num_classes if class_specific else 1
        self.cls = nn.Linear(in_features, num_classes + 1)
        self.box = nn.Linear(in_features, 4 * self.k)
        # Small deltas at the start: a region first predicts itself.
        nn.init.normal_(self.box.weight, std=0.001)
        nn.init.zeros_(self.box.bias)

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        return self.cls(h), self.box(h).view(len(h), self.k, 4)

    def losses(
        self, logits: Tensor, deltas: Tensor, t: RegionTargets, coder: BoxCoder
    ) -> dict[str, Tensor]:
        """Cross-entropy over all sampled regions; on the positives' deltas of their own class,
        smooth L1 (``beta = 1/9``, Faster R-CNN's) against the encoded targets or, with
        ``box_loss="giou"``, the generalized IoU loss of the decoded boxes (Rezatofighi et al.
        2019: it measures the box, not four independent numbers); summed and divided by the
        number of sampled regions, as Fast R-CNN normalises it."""
        pos = t.labels > 0
        cls = F.cross_entropy(logits, t.labels)
        if not pos.any():
            return {"cls": cls, "box": deltas.sum() * 0.0}
        rois = torch.cat(t.rois)
        col = (t.labels[pos] - 1) if self.k > 1 else torch.zeros_like(t.labels[pos])
        pred = deltas[pos.nonzero().squeeze(1), col]
        if self.box_loss == "giou":
            boxes = coder.decode(pred, rois[pos])
            box = generalized_box_iou_loss(boxes, t.boxes[pos], reduction="sum") / len(t.labels)
        else:
            target = coder.encode(rois[pos], t.boxes[pos])
            box = F.smooth_l1_loss(pred, target, beta=1 / 9, reduction="sum") / len(t.labels)
        return {"cls": cls, "box": box}

    @torch.no_grad()
    def detect(
        self,
        logits: Tensor,
        deltas: Tensor,
        rois: Tensor,
        image_size: tuple[int, int],
        coder: BoxCoder,
        score_thresh: float,
        nms_iou: float,
        max_det: int,
    ) -> Detections:
        """One image's detections from its regions ``rois (R, 4)``: every (region, class) above
        ``score_thresh`` with its class's box, clipped; class-aware NMS; the best ``max_det``."""
        c = self.num_classes
        if len(rois) == 0:  # every proposal removed (e.g. all too small): nothing found
            return Detections(rois.new_zeros((0, 4)), torch.zeros(0, dtype=torch.int64,
                              device=rois.device), rois.new_zeros(0))  # fmt: skip
        prob = logits.float().softmax(1)[:, 1:]  # (R, C)
        boxes = coder.decode(deltas.float().reshape(len(rois), -1), rois.float())
        boxes = boxes.view(len(rois), self.k, 4).expand(-1, c, -1)
        boxes = clip_boxes_to_image(boxes.reshape(-1, 4), image_size)
        scores = prob.reshape(-1)
        labels = torch.arange(1, c + 1, device=rois.device).repeat(len(rois))
        keep = (scores > score_thresh).nonzero().squeeze(1)
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        keep = remove_small_boxes(boxes, 1e-2)
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        keep = batched_nms(boxes, scores, labels, nms_iou)[:max_det]
        return Detections(boxes[keep], labels[keep], scores[keep])


# --------------------------------------------------------------------------- croppers


def _expand(rois: Tensor, factor: float) -> Tensor:
    """Boxes grown about their centres by ``factor`` (``> 1`` adds context)."""
    c = (rois[:, :2] + rois[:, 2:]) / 2
    half = (rois[:, 2:] - rois[:, :2]) / 2 * factor
    return torch.cat([c - half, c + half], 1)


def _square(rois: Tensor) -> Tensor:
    """The tightest square about each box's centre."""
    c = (rois[:, :2] + rois[:, 2:]) / 2
    half = (rois[:, 2:] - rois[:, :2]).max(1, keepdim=True).values / 2
    return torch.cat([c - half, c + half], 1)


class ImageCropper(nn.Module):
    """Each region cut out of the *image* and sent through its own CNN (sliding window, R-CNN).

    ``crop="warp"`` stretches the region to ``size x size`` (R-CNN's choice: aspect ratio
    changes); ``"pad"`` takes the tightest square around it instead (aspect kept; what lies
    outside the image is grey). ``context`` pixels *at the warped scale* surround the region
    (R-CNN's 16 px at 227: the box is grown by ``size / (size - 2 context)``). Crops are
    bilinear samples of the normalised image (``roi_align``), so outside the image reads 0: the
    mean colour.

    ``encoder`` maps ``(R, 3, size, size)`` to an :class:`EncoderOutput`; ``neck`` its last map
    to ``(R, D)``."""

    needs_maps = False

    def __init__(
        self,
        encoder: nn.Module,
        neck: nn.Module,
        size: int,
        crop: str = "warp",
        context: int = 0,
        chunk: int = 512,
    ) -> None:
        super().__init__()
        if crop not in ("warp", "pad"):
            raise ValueError(f"crop must be warp or pad, got {crop!r}")
        if not 0 <= 2 * context < size:
            raise ValueError(f"context {context} leaves nothing of a {size} px crop")
        self.encoder, self.neck = encoder, neck
        self.size, self.crop, self.context, self.chunk = size, crop, context, chunk

    def features(self, x: Tensor) -> None:
        return None

    def regions(self, rois: Tensor) -> Tensor:
        """The image boxes actually sampled for ``rois`` (context and padding included)."""
        if self.crop == "pad":
            rois = _square(rois)
        if self.context:
            rois = _expand(rois, self.size / (self.size - 2 * self.context))
        return rois

    def crops(self, x: Tensor, rois: Sequence[Tensor]) -> Tensor:
        """``(R, 3, size, size)`` crops of the normalised images ``x``."""
        boxes = [self.regions(r) for r in rois]
        s = self.size
        return roi_align(x, boxes, (s, s), spatial_scale=1.0, sampling_ratio=2, aligned=True)

    def forward(self, x: Tensor, maps, rois: Sequence[Tensor]) -> Tensor:
        crops = self.crops(x, rois)
        if len(crops) <= self.chunk or torch.is_grad_enabled():
            return self.neck(self.encoder(crops).features[-1])
        return torch.cat([self.neck(self.encoder(c).features[-1]) for c in crops.split(self.chunk)])


def region_fc(in_features: int, hidden: int) -> nn.Sequential:
    """The two fully connected layers (``ReLU`` after each) every feature cropper ends with."""
    return nn.Sequential(
        nn.Linear(in_features, hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, hidden),
        nn.ReLU(inplace=True),
    )


def crop_level(
    fmap: Tensor, rois: Tensor, out: int, stride: float, roi: str, sampling: int = 2
) -> Tensor:
    """``rois (K, 5)`` (batch index, ``xyxy`` pixels) of one map at ``stride`` as
    ``(K, C, out, out)``: RoIAlign (``aligned=True``, ``sampling`` bilinear samples per bin
    side, averaged) or RoIPool (max over the quantised bin)."""
    if roi == "align":
        return roi_align(fmap, rois, out, 1.0 / stride, sampling_ratio=sampling, aligned=True)
    return roi_pool(fmap, rois, out, 1.0 / stride)


class FeatureCropper(nn.Module):
    """Regions cut out of one *feature map* of the whole image (Fast and Faster R-CNN).

    ``backbone`` runs once per image; its map at ``stride`` is reduced to ``channels`` by a
    ``1x1`` convolution, and each region becomes an ``out x out`` grid of it by RoIAlign
    (``roi="align"``: bilinear samples at exact positions, ``aligned=True``) or RoIPool
    (``"pool"``: Fast R-CNN's max over quantised bins). Two fully connected layers of
    ``hidden`` units follow. Right-sized for a CPU: torchvision's two 1024-wide layers over
    ``256 x 7 x 7`` take 13 M weights and most of a training step."""

    needs_maps = True

    def __init__(
        self,
        backbone: nn.Module,
        stride: int,
        channels: int = 64,
        roi: str = "align",
        out: int = 7,
        hidden: int = 256,
        sampling: int = 2,
    ) -> None:
        super().__init__()
        if roi not in ("align", "pool"):
            raise ValueError(f"roi must be align or pool, got {roi!r}")
        if stride not in backbone.strides:
            raise ValueError(f"backbone has no stride {stride}; it has {backbone.strides}")
        self.backbone, self.stride, self.roi, self.out = backbone, stride, roi, out
        self.sampling = sampling
        self.level = backbone.strides.index(stride)
        self.reduce = nn.Sequential(
            nn.Conv2d(backbone.channels[self.level], channels, 1), nn.ReLU(inplace=True)
        )
        self.fc = region_fc(channels * out * out, hidden)
        self.channels = backbone.channels[self.level]

    def features(self, x: Tensor) -> Tensor:
        """The backbone map at ``stride`` ``(N, C, H / s, W / s)`` (the RPN reads it too)."""
        return self.backbone(x).features[self.level]

    def spatial(self, maps: Tensor, rois: Sequence[Tensor], out: int | None = None) -> Tensor:
        """Each region as an ``(C', out, out)`` grid of the reduced map (``C' = channels``
        argument, ``out`` default the box head's): ``(R, C', out, out)``. The mask head reads
        these at twice the box head's size."""
        f = self.reduce(maps)
        rows = _roi_rows(rois, f.dtype, f.device)
        return crop_level(f, rows, out or self.out, self.stride, self.roi, self.sampling)

    @property
    def spatial_channels(self) -> int:
        return self.reduce[0].out_channels

    def forward(self, x: Tensor, maps: Tensor, rois: Sequence[Tensor]) -> Tensor:
        return self.fc(self.spatial(maps, rois).flatten(1))


def _roi_rows(rois: Sequence[Tensor], dtype: torch.dtype, device=None) -> Tensor:
    """One ``(K_i, 4)`` tensor per image -> ``(K, 5)`` rows ``(image index, x1, y1, x2, y2)``."""
    if not len(rois):
        return torch.zeros((0, 5), dtype=dtype, device=device)
    idx = [torch.full((len(r), 1), i, dtype=dtype, device=r.device) for i, r in enumerate(rois)]
    return torch.cat([torch.cat([i, r.to(dtype)], 1) for i, r in zip(idx, rois)])


class PyramidCropper(nn.Module):
    """Regions cut out of a *feature pyramid* (FPN, Lin et al. 2017): Faster R-CNN's cropper
    when every object size should find a map of its scale.

    ``backbone`` runs once per image; ``neck`` (FPN top-down + PAN bottom-up,
    :class:`~regionlab.models.detection.csp.PANNeck`) fuses its maps at ``strides``; a ``1x1``
    convolution brings every level to ``channels`` (so one RPN head and one box head serve all
    levels). A region of side ``sqrt(w h)`` is read from the level of stride ``16 * sqrt(w h)
    / canonical``, rounded down to the nearest level and clamped to the pyramid (FPN's rule
    ``k = floor(4 + log2(sqrt(w h) / 224))`` with ``canonical`` for 224: our inputs are 320 px
    where the paper's are 800), as an ``out x out`` grid by RoIAlign or RoIPool, then two fully
    connected layers of ``hidden`` units."""

    needs_maps = True

    def __init__(
        self,
        backbone: nn.Module,
        neck: nn.Module,
        strides: Sequence[int],
        channels: int = 64,
        roi: str = "align",
        out: int = 7,
        hidden: int = 256,
        canonical: float = 112.0,
        sampling: int = 2,
    ) -> None:
        super().__init__()
        if roi not in ("align", "pool"):
            raise ValueError(f"roi must be align or pool, got {roi!r}")
        missing = [s for s in strides if s not in backbone.strides]
        if missing or not strides:
            raise ValueError(f"strides {list(strides)}: the backbone has {backbone.strides}")
        if any(b != 2 * a for a, b in zip(strides, strides[1:])):
            # levels() counts octaves from the finest map
            raise ValueError(f"strides must double from level to level, finest first: {strides}")
        self.backbone, self.neck = backbone, neck
        self.strides = tuple(int(s) for s in strides)
        self.taps = [backbone.strides.index(s) for s in self.strides]
        self.lateral = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, channels, 1), nn.ReLU(inplace=True)) for c in neck.channels
        )
        self.fc = region_fc(channels * out * out, hidden)
        self.roi, self.out, self.canonical, self.sampling = roi, out, float(canonical), sampling
        self.channels = channels

    def features(self, x: Tensor) -> list[Tensor]:
        """The pyramid: one ``(N, channels, H / s, W / s)`` map per stride, finest first."""
        f = self.backbone(x).features
        return [lat(m) for lat, m in zip(self.lateral, self.neck([f[i] for i in self.taps]))]

    def levels(self, boxes: Tensor) -> Tensor:
        """``int64 (K,)``: the pyramid level each ``xyxy`` box is read from."""
        side = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).clamp(min=1e-6).sqrt()
        k = torch.floor(4 + torch.log2(side / self.canonical) + 1e-6)
        first = math.log2(self.strides[0])
        return (k - first).clamp(0, len(self.strides) - 1).long()

    def spatial(self, maps: Sequence[Tensor], rois: Sequence[Tensor], out: int | None = None):
        """Each region as ``(channels, out, out)`` read from its level: ``(R, channels, out,
        out)`` in the order of ``rois``."""
        out = out or self.out
        rows = _roi_rows(rois, maps[0].dtype, maps[0].device)
        level = self.levels(rows[:, 1:])
        result = maps[0].new_zeros((len(rows), self.channels, out, out))
        for i, (fmap, stride) in enumerate(zip(maps, self.strides)):
            idx = (level == i).nonzero().squeeze(1)
            if len(idx):
                crops = crop_level(fmap, rows[idx], out, stride, self.roi, self.sampling)
                result = result.index_put((idx,), crops)
        return result

    @property
    def spatial_channels(self) -> int:
        return self.channels

    def forward(self, x: Tensor, maps: Sequence[Tensor], rois: Sequence[Tensor]) -> Tensor:
        return self.fc(self.spatial(maps, rois).flatten(1))


# --------------------------------------------------------------------------- proposers


class WindowProposer(nn.Module):
    """Every sliding window: sides ``sizes`` (fractions of the input side) times ``aspects``
    (height / width), a step of ``stride`` times the side, centres inside the image. One
    :class:`~regionlab.ops.anchors.AnchorGenerator` level per side."""

    def __init__(self, sizes: Sequence[float], aspects: Sequence[float], stride: float) -> None:
        super().__init__()
        self.sizes, self.aspects, self.stride = list(sizes), list(aspects), stride
        self._cache: dict[tuple[int, int], Tensor] = {}

    def windows(self, size: tuple[int, int], device) -> Tensor:
        """``(W, 4)`` windows of an ``(H, W)`` input."""
        if size not in self._cache:
            side = min(size)
            sides = [s * side for s in self.sizes]
            strides = [max(1.0, self.stride * s) for s in sides]
            grid = AnchorGenerator(
                [(s,) for s in sides], [tuple(self.aspects)] * len(sides), strides
            )
            cells = [(max(1, round(size[0] / st)), max(1, round(size[1] / st))) for st in strides]
            w = torch.cat(grid(cells))
            c = (w[:, :2] + w[:, 2:]) / 2
            inside = (c[:, 0] >= 0) & (c[:, 0] < size[1]) & (c[:, 1] >= 0) & (c[:, 1] < size[0])
            self._cache[size] = w[inside]
        return self._cache[size].to(device)

    def forward(self, images: Tensor, maps, targets=None, gen=None):
        w = self.windows((int(images.shape[-2]), int(images.shape[-1])), images.device)
        return [w] * len(images), {}


class SelectiveSearchProposer(nn.Module):
    """Selective search (Uijlings et al.) on each image, through an on-disk cache keyed by the
    image's pixels and the settings (so an epoch's second look at an image, and evaluation, cost
    nothing). The first ``top`` boxes are kept. It is not learned: training images must repeat
    exactly for the cache to help, so R-CNN and Fast R-CNN train on flips only, as the papers
    did."""

    def __init__(
        self, mode: str = "fast", top: int = 2000, max_side: int | None = None, cache=None
    ) -> None:
        super().__init__()
        self.mode, self.top, self.max_side, self.cache = mode, top, max_side, cache

    def _one(self, image: Tensor) -> Tensor:
        from regionlab.ops.proposals import selective_search

        img = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
        if self.cache is not None:
            boxes = self.cache.get(img, self.mode, self.max_side)
        else:
            boxes = selective_search(img, self.mode, self.max_side)
        return boxes[: self.top].to(image.device)

    def forward(self, images: Tensor, maps, targets=None, gen=None):
        out = []
        for img in images:
            b = self._one(img)
            if len(b) == 0:  # a flat image: the whole image is the one region
                h, w = img.shape[-2:]
                b = torch.tensor([[0.0, 0.0, float(w), float(h)]], device=img.device)
            out.append(b)
        return out, {}


class RPN(nn.Module):
    """Faster R-CNN's region proposal network on the cropper's feature map(s).

    A ``3x3`` convolution, then per cell and anchor an objectness logit and
    :class:`~regionlab.ops.boxes.BoxCoder` deltas (weights ``(1, 1, 1, 1)``); with a pyramid
    the same layers slide over every level, each with its own anchors (so every level needs
    the same number of anchors per cell). Training: anchors matched at IoU ``0.7 / 0.3`` with
    low-quality matches (every object gets its best anchor), ``256`` sampled per image, half
    positive at most; losses ``rpn_cls`` (binary cross-entropy) and ``rpn_box`` (smooth L1,
    ``beta = 1/9``, divided by the sampled count). Proposals: per level the ``pre_nms``
    best-scoring decoded anchors, clipped, small ones dropped, NMS at ``nms_iou`` within each
    level, then the ``post_nms`` best over all levels (fewer at test time: ``test_pre_nms`` /
    ``test_post_nms``)."""

    def __init__(
        self,
        channels: int,
        anchors: AnchorGenerator,
        pre_nms: int = 1000,
        post_nms: int = 300,
        test_pre_nms: int = 600,
        test_post_nms: int = 150,
        nms_iou: float = 0.7,
        samples: int = 256,
    ) -> None:
        super().__init__()
        per_cell = anchors.num_anchors_per_location()
        if len(set(per_cell)) != 1:
            raise ValueError(
                f"one RPN head serves every level: give each level the same number of anchors "
                f"per cell, got {per_cell}"
            )
        a = per_cell[0]
        self.anchors = anchors
        self.conv = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(True))
        self.objectness = nn.Conv2d(channels, a, 1)
        self.deltas = nn.Conv2d(channels, 4 * a, 1)
        for layer in (self.objectness, self.deltas):
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.zeros_(layer.bias)
        self.coder = BoxCoder((1.0, 1.0, 1.0, 1.0))
        self.matcher = Matcher(0.7, 0.3, allow_low_quality=True)
        self.sampler = BalancedSampler(samples, 0.5)
        self.pre_nms, self.post_nms = pre_nms, post_nms
        self.test_pre_nms, self.test_post_nms = test_pre_nms, test_post_nms
        self.nms_iou = nms_iou
        self._anchor_cache: dict = {}

    def forward(self, images: Tensor, maps, targets=None, gen=None):
        maps = list(maps) if isinstance(maps, (list, tuple)) else [maps]
        if len(maps) != self.anchors.num_levels:
            raise ValueError(
                f"{len(maps)} feature maps for {self.anchors.num_levels} anchor levels"
            )
        a = self.objectness.out_channels
        logits, deltas, anchors, level = [], [], [], []
        for i, m in enumerate(maps):
            n, _, h, w = m.shape
            t = self.conv(m)
            logits.append(self.objectness(t).permute(0, 2, 3, 1).reshape(n, -1))  # (N, h*w*A)
            deltas.append(self.deltas(t).view(n, a, 4, h, w).permute(0, 3, 4, 1, 2)
                          .reshape(n, -1, 4))  # fmt: skip
            anchors.append(self._level_anchors(i, (h, w), m.device))
            level.append(torch.full((len(anchors[-1]),), i, device=m.device))
        size = (int(images.shape[-2]), int(images.shape[-1]))
        proposals = self._propose(logits, deltas, anchors, level, size)
        losses = {}
        if targets is not None:
            losses = self._losses(torch.cat(logits, 1), torch.cat(deltas, 1),
                                  torch.cat(anchors), targets, gen)  # fmt: skip
        return proposals, losses

    def _level_anchors(self, level: int, size: tuple[int, int], device) -> Tensor:
        """The anchors of one level, built once per map size (in float64, then cast)."""
        key = (level, size, str(device))
        if key not in self._anchor_cache:
            self._anchor_cache[key] = self.anchors.level_anchors(level, size, device,
                                                                 torch.float32)  # fmt: skip
        return self._anchor_cache[key]

    @torch.no_grad()
    def _propose(self, logits, deltas, anchors, level, size) -> list[Tensor]:
        pre, post = (self.pre_nms, self.post_nms) if self.training else (
            self.test_pre_nms, self.test_post_nms
        )  # fmt: skip
        # Per level, the best `pre` anchors of each image (a fine level would crowd out the
        # coarse ones by its number of cells alone).
        top = [lg.detach().float().topk(min(pre, lg.shape[1]), dim=1).indices for lg in logits]
        proposals = []
        for n in range(len(logits[0])):
            lg = torch.cat([x[n].detach().float()[t[n]] for x, t in zip(logits, top)])
            d = torch.cat([x[n].detach().float()[t[n]] for x, t in zip(deltas, top)])
            anc = torch.cat([x[t[n]] for x, t in zip(anchors, top)])
            lev = torch.cat([x[t[n]] for x, t in zip(level, top)])
            boxes = clip_boxes_to_image(self.coder.decode(d, anc), size)
            keep = remove_small_boxes(boxes, 1e-3)
            boxes, scores, lev = boxes[keep], lg[keep], lev[keep]
            keep = batched_nms(boxes, scores, lev, self.nms_iou)
            proposals.append(boxes[keep[:post]])
        return proposals

    def _losses(self, logits, deltas, anchors, targets, gen) -> dict[str, Tensor]:
        idx, labels, reg_pred, reg_target = [], [], [], []
        for i, target in enumerate(targets):
            if len(target):
                matches = self.matcher(box_iou(target.boxes, anchors), target.iscrowd)
            else:
                matches = torch.full((len(anchors),), -1, dtype=torch.int64, device=anchors.device)
            pos, neg = self.sampler(matches, gen)
            idx.append(torch.cat([pos, neg]) + i * len(anchors))
            labels.append(torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))]))
            if len(pos):
                reg_pred.append(deltas[i, pos])
                reg_target.append(self.coder.encode(anchors[pos], target.boxes[matches[pos]]))
        idx = torch.cat(idx)
        labels = torch.cat(labels).to(logits)
        cls = F.binary_cross_entropy_with_logits(logits.reshape(-1)[idx], labels)
        if reg_pred:
            box = F.smooth_l1_loss(
                torch.cat(reg_pred), torch.cat(reg_target), beta=1 / 9, reduction="sum"
            ) / max(len(idx), 1)
        else:
            box = deltas.sum() * 0.0
        return {"rpn_cls": cls, "rpn_box": box}


# --------------------------------------------------------------------------- the detector


def _detach(maps):
    if maps is None:
        return None
    return [m.detach() for m in maps] if isinstance(maps, (list, tuple)) else maps.detach()


def image_maps(maps, i: int):
    """Image ``i``'s slice of the cropper's features (``None``, one map or a pyramid)."""
    if maps is None:
        return None
    return [m[i : i + 1] for m in maps] if isinstance(maps, (list, tuple)) else maps[i : i + 1]


class RegionDetector(nn.Module):
    """``proposer -> cropper -> box head``, trained on the :class:`RegionSampler`'s regions.

    ``forward(images float (N, 3, H, W) in [0, 1], targets=None, generator=None)`` ->
    :class:`DetectionOutput`: with ``targets`` (``xyxy`` pixels, labels ``1 .. C``) the losses
    (``cls``, ``box``, plus the proposer's, e.g. ``rpn_cls``, ``rpn_box``) in train and eval
    mode alike; detections (decoded lazily) from all proposals of each image. ``generator``
    drives the sampling, so a run resumes bit-identically."""

    needs_generator = True

    def __init__(
        self,
        proposer: nn.Module,
        cropper: nn.Module,
        head: BoxHead,
        sampler: RegionSampler,
        loss: MultiTaskLoss,
        coder: BoxCoder | None = None,
        score_thresh: float = 0.001,
        nms_iou: float = 0.5,
        max_det: int = 100,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        self.normalize = Normalize()
        self.proposer, self.cropper, self.head = proposer, cropper, head
        self.sampler, self.loss = sampler, loss
        self.coder = coder or BoxCoder()
        self.score_thresh, self.nms_iou, self.max_det = score_thresh, nms_iou, max_det
        self.channels_last = channels_last

    def forward(
        self,
        images: Tensor,
        targets: Sequence[Detections] | None = None,
        generator: torch.Generator | None = None,
    ) -> DetectionOutput:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (N, 3, H, W), got {tuple(images.shape)}")
        x = self.normalize(images)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        maps = self.cropper.features(x)
        targets = [t.to(images.device) for t in targets] if targets is not None else None
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        proposals, losses = self.proposer(images, maps, targets, gen)
        size = (int(images.shape[-2]), int(images.shape[-1]))
        frozen = _detach(maps)
        result = DetectionOutput(lambda: self.detect(x.detach(), frozen, proposals, size))
        if targets is not None:
            if len(targets) != len(images):
                raise ValueError(f"{len(images)} images but {len(targets)} targets")
            t = self.sampler(proposals, targets, gen)
            logits, deltas = self.head(self.cropper(x, maps, t.rois))
            losses = {**self.head.losses(logits, deltas, t, self.coder), **losses}
            losses.update(self.extra_losses(maps, t, targets, gen))
            result.losses = losses
            result.loss = self.loss(losses)
            result.weights = self.loss.effective_weights()
        return result

    def extra_losses(
        self, maps, t: RegionTargets, targets: Sequence[Detections], gen: torch.Generator
    ) -> dict:
        """Losses of heads beyond the box head on the sampled regions ``t`` (Mask R-CNN's
        mask head); none here."""
        return {}

    @torch.no_grad()
    def detect(self, x: Tensor, maps, proposals: Sequence[Tensor], size) -> list[Detections]:
        out = []
        for i, props in enumerate(proposals):
            m = image_maps(maps, i)
            logits, deltas = self.head(self.cropper(x[i : i + 1], m, [props]))
            out.append(
                self.head.detect(
                    logits,
                    deltas,
                    props,
                    size,
                    self.coder,
                    self.score_thresh,
                    self.nms_iou,
                    self.max_det,
                )  # fmt: skip
            )
        return out
