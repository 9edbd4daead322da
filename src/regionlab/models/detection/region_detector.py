"""Region-based detection: a proposer, a cropper, one box head and optional region heads -- the
sliding window, R-CNN, Fast R-CNN, Faster R-CNN, Keypoint R-CNN and Mask R-CNN are settings of
:class:`RegionDetector` (see :mod:`regionlab.models.detection` for the table).

What every one of them shares: the :class:`~.region_targets.RegionSampler` (an IoU matcher
labels each region with an object or background, a generator-driven balanced sampler picks the
regions trained on), the :class:`~.box_head.BoxHead`, the losses (cross-entropy + smooth L1
through :class:`~regionlab.models.losses.MultiTaskLoss`) and the inference
(:func:`~regionlab.ops.postprocess.select_detections`).

Boxes are ``xyxy`` pixels of the input tensor everywhere; labels ``1 .. C``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from regionlab.models.detection.box_head import BoxHead
from regionlab.models.detection.inputs import DetectorInput
from regionlab.models.detection.output import DetectionOutput
from regionlab.models.detection.protocols import Cropper, Maps, Proposer, RegionHead
from regionlab.models.detection.region_targets import RegionSampler, RegionTargets
from regionlab.models.losses import MultiTaskLoss, TaskKind
from regionlab.ops.boxes import BoxCoder
from regionlab.ops.detections import Detections
from regionlab.ops.sampler import image_generators

# Before region heads were plugged in, Mask R-CNN held them as attributes of a subclass.
_OLD_KEYS = {"mask_head.": "heads.mask.", "keypoint_head.": "heads.keypoint."}


def region_loss_tasks(proposer: Proposer, heads: Sequence[RegionHead]) -> dict[str, TaskKind]:
    """Every loss a region detector of these parts returns, in the order it weighs them."""
    tasks = {**BoxHead.loss_tasks, **proposer.loss_tasks}
    return tasks | {h.loss_name: h.loss_kind for h in heads}


class RegionDetector(nn.Module):
    """``proposer -> cropper -> box head (+ region heads)``, trained on the
    :class:`RegionSampler`'s regions.

    ``forward(images float (N, 3, H, W) in [0, 1], targets=None, generator=None)`` ->
    :class:`DetectionOutput`: with ``targets`` (``xyxy`` pixels, labels ``1 .. C``; ``masks``
    / ``keypoints`` for those heads) the losses (``cls``, ``box``, the proposer's, e.g.
    ``rpn_cls``, ``rpn_box``, and each region head's, e.g. ``mask``) in train and eval mode
    alike; detections (decoded lazily) from all proposals of each image, with each region
    head's field. ``generator`` (one, or one per image) drives the sampling, so a run resumes
    bit-identically.
    ``head_rois``: the region heads read at most this many positive regions per image (``0``:
    all, the paper's)."""

    def __init__(
        self,
        proposer: Proposer,
        cropper: Cropper,
        head: BoxHead,
        sampler: RegionSampler,
        loss: MultiTaskLoss,
        coder: BoxCoder | None = None,
        score_thresh: float = 0.001,
        nms_iou: float = 0.5,
        max_det: int = 100,
        channels_last: bool = True,
        heads: Sequence[RegionHead] = (),
        head_rois: int = 0,
    ) -> None:
        super().__init__()
        names = list(region_loss_tasks(proposer, heads))
        if loss.names != names:
            raise ValueError(f"loss tasks {loss.names} do not match the parts' {names}")
        if heads and not hasattr(cropper, "spatial"):
            raise ValueError("region heads read RoI grids of feature maps: needs a FeatureCropper")
        self.normalize = DetectorInput(channels_last)
        self.proposer, self.cropper, self.head = proposer, cropper, head
        self.sampler, self.loss = sampler, loss
        self.coder = coder or BoxCoder()
        self.heads = nn.ModuleDict({h.loss_name: h for h in heads})
        self.head_rois = head_rois
        self.score_thresh, self.nms_iou, self.max_det = score_thresh, nms_iou, max_det
        self._register_load_state_dict_pre_hook(_rename_old_keys)

    def forward(
        self,
        images: Tensor,
        targets: Sequence[Detections] | None = None,
        generator: torch.Generator | Sequence[torch.Generator] | None = None,
    ) -> DetectionOutput:
        x = self.normalize(images, targets)
        maps = self.cropper.features(x)
        targets = [t.to(images.device) for t in targets] if targets is not None else None
        gen = image_generators(
            generator if generator is not None else torch.Generator().manual_seed(0), len(images)
        )  # one per image
        proposals, losses = self.proposer(images, maps, targets, gen)
        size = (int(images.shape[-2]), int(images.shape[-1]))
        frozen = [m.detach() for m in maps]
        result = DetectionOutput(lambda: self.detect(x.detach(), frozen, proposals, size))
        if targets is not None:
            t = self.sampler(proposals, targets, gen)
            logits, deltas = self.head(self.cropper(x, maps, t.rois))
            losses = {**self.head.losses(logits, deltas, t, self.coder), **losses}
            losses.update(self.head_losses(maps, t, targets, gen))
            result.losses = losses
            result.loss = self.loss(losses)
            result.weights = self.loss.effective_weights()
        return result

    def _grids(self, maps: Maps, rois: Sequence[Tensor]) -> dict[int, Tensor]:
        """The regions' RoI grids at every size a region head reads, each read once."""
        sizes = {h.grid for h in self.heads.values()}
        return {s: self.cropper.spatial(maps, rois, s) for s in sorted(sizes)}

    def head_losses(self, maps: Maps, t: RegionTargets, targets: Sequence[Detections],
                    gen: Sequence[torch.Generator]) -> dict[str, Tensor]:  # fmt: skip
        """Each region head's loss on (a random subset of) the positive sampled regions."""
        if not self.heads:
            return {}
        regions = t.positives(self.head_rois, gen)
        grids = self._grids(maps, regions.rois)
        return {name: h.region_loss(grids[h.grid], regions, targets)
                for name, h in self.heads.items()}  # fmt: skip

    @torch.no_grad()
    def detect(self, x: Tensor, maps: Maps, proposals: Sequence[Tensor], size) -> list[Detections]:
        """Every image's detections: the box head once over all images' regions, then each
        region head once over all images' detections."""
        logits, deltas = self.head(self.cropper(x, maps, proposals))
        dets = self.head.detect(logits, deltas, proposals, size, self.coder,
                                score_thresh=self.score_thresh, nms_iou=self.nms_iou,
                                max_det=self.max_det)  # fmt: skip
        if self.heads:
            grids = self._grids(maps, [d.boxes for d in dets])
            for h in self.heads.values():
                dets = h.annotate(grids[h.grid], dets, size)
        return dets


def _rename_old_keys(state_dict, prefix, *args) -> None:
    for key in list(state_dict):
        for old, new in _OLD_KEYS.items():
            if key.startswith(prefix + old):
                state_dict[prefix + new + key[len(prefix + old) :]] = state_dict.pop(key)
