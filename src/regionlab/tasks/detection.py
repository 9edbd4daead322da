"""Object detection as an engine task, for every detector of ``models/detection``.

Images are letterboxed to a square ``size`` (training adds random scale/placement, flips,
colour jitter and, until late in training, 2x2 mosaics); targets travel as
:class:`~regionlab.ops.detections.Detections` in the letterboxed frame. Evaluation maps the
predictions back to each image's original pixels and scores them with COCO AP (faster-coco-eval,
identical to pycocotools) against the original annotations, crowds ignored as COCO does.

Every detector is called the same way: ``model(images, targets, generator) -> DetectionOutput``
with the losses and the (lazily decoded) detections; one ``torch.Generator`` per image, seeded
from its sample, so a detector that samples windows or proposals resumes bit-identically and
samples the same under data parallelism.

A detector with region heads brings their fields along: with a mask head (Mask R-CNN) targets
carry ``masks`` and evaluation scores masks too (``mask_AP``, ...); with a keypoint head
(Keypoint R-CNN, or Mask R-CNN with keypoints) ``keypoints`` and OKS metrics (``kp_AP``, ...),
a flip renaming them by ``flip_perm`` (left and right swap).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from regionlab.data.detection_transforms import DetectionAugment, Frame, mosaic
from regionlab.data.sample import Sample
from regionlab.data.transforms import hflip
from regionlab.engine.task import StepOutput
from regionlab.eval.detection import coco_evaluate
from regionlab.models.detection.specs import DetectorSpec, GridSpec, split_task_dict
from regionlab.ops.detections import Detections
from regionlab.tasks.common import (
    BatchwiseEvaluation,
    bf16_measured,
    like_model,
    loss_means,
    loss_sums,
    proposal_cache,
)
from regionlab.tasks.detection_frames import to_original

# OKS constant for keypoints without COCO's own: about the mean of COCO's 17.
DEFAULT_SIGMA = 0.07


def coco_metrics(preds: list[Detections], gts: list[Detections], sizes: list, classes: list[str],
                 masks: bool = False, keypoints: bool = False, sigmas=None) -> dict:  # fmt: skip
    """COCO metrics of predictions and annotations in original pixels: boxes (``AP``, ...),
    with ``masks`` masks (``mask_AP``, ...), with ``keypoints`` keypoints by OKS with
    ``sigmas`` (``kp_AP``, ...). Our detectors' evaluation and the peers' scoring both."""
    out = {k: float(v) for k, v in coco_evaluate(preds, gts, sizes, classes).items()}
    if masks:
        segm = coco_evaluate(preds, gts, sizes, classes, iou_type="segm")
        out.update({f"mask_{k}": float(v) for k, v in segm.items()})
    if keypoints:
        kp = coco_evaluate(preds, gts, sizes, classes, iou_type="keypoints", sigmas=sigmas)
        out.update({f"kp_{k}": float(v) for k, v in kp.items()})
    return out


def to_pixels(images: torch.Tensor) -> torch.Tensor:
    """float ``(N, 3, H, W)`` in ``[0, 1]`` -> the ``uint8 (N, 3, H, W)`` image evaluation
    letterboxes: times 255, rounded half to even, clamped to ``[0, 255]`` (a new tensor, the
    input is not touched)."""
    x = images.detach().mul(255).round_().clamp_(0, 255)
    if x.device.type != "cpu":
        return x.to(torch.uint8)
    # torch casts float -> uint8 one element at a time through int64 (its rule for negative
    # values), 4x slower than numpy's vectorised cast; for these whole numbers in [0, 255]
    # both give the same bytes (NaN: 0 in both, without numpy's warning)
    with np.errstate(invalid="ignore"):
        return torch.from_numpy(x.numpy().astype(np.uint8))


@dataclass
class DetItem:
    """One image: ``image`` ``uint8 (3, S, S)`` letterboxed; ``target`` in that frame;
    ``original`` the annotations in the image's own pixels (for COCO AP); ``frame`` the map
    between the two; ``seed`` for a detector's own sampling."""

    image: torch.Tensor
    target: Detections
    original: Detections
    frame: Frame
    image_id: int | str
    seed: int


@dataclass
class DetBatch:
    images: torch.Tensor  # float (N, 3, S, S) in [0, 1]
    targets: list[Detections]  # letterboxed frame
    originals: list[Detections]  # original pixels
    frames: list[Frame]
    ids: list
    seeds: list[int]

    def on(self, device: torch.device) -> list[Detections]:
        return [t.to(device) for t in self.targets]


def _detections(s: Sample, masks: bool = False, keypoints: bool = False) -> Detections:
    m = s.masks.bool() if masks and s.masks is not None else None
    k = s.keypoints.float() if keypoints and s.keypoints is not None else None
    return Detections(s.boxes.float(), s.labels.long(), iscrowd=s.iscrowd.bool(), masks=m,
                      keypoints=k)  # fmt: skip


def _original(s: Sample, masks: bool = False, keypoints: bool = False) -> Detections:
    """The annotations as scored: with each object's area as COCO's size split reads it,
    taken before the fields the model does not learn (a detector's masks) are dropped."""
    return replace(_detections(s, masks, keypoints), area=s.object_areas())


def _only(s: Sample, masks: bool = False, keypoints: bool = False) -> Sample:
    """``s`` without the fields the model does not learn: a detector has no use for a class
    map, nor one without a mask head for every object's mask, resized, padded and flipped with
    each image (on Penn-Fudan, whose reader gives both, a third of the augmentation's time)."""
    drop = {"semantic": None} if s.semantic is not None else {}
    if not masks and s.masks is not None:
        drop["masks"] = None
    if not keypoints and s.keypoints is not None:
        drop["keypoints"] = None
    return replace(s, **drop) if drop else s


def collate(items: list[DetItem]) -> DetBatch:
    return DetBatch(
        torch.stack([i.image for i in items]).float().div_(255.0),
        [i.target for i in items],
        [i.original for i in items],
        [i.frame for i in items],
        [i.image_id for i in items],
        [i.seed for i in items],
    )


class _Train:
    """The training transform: mosaic with probability ``p`` until ``off`` of training is done
    (then plain samples, so the last epochs see whole images as evaluation will), then random
    scale/placement, flip and colour jitter."""

    wants_context = True

    def __init__(self, aug: DetectionAugment, p: float, off: float, scale,
                 fields: tuple[bool, bool] = (False, False)) -> None:  # fmt: skip
        self.aug, self.p, self.off, self.scale, self.fields = aug, p, off, scale, fields

    def __call__(self, sample: Sample, gen, ctx) -> DetItem:
        original = _original(sample, *self.fields)
        sample = _only(sample, *self.fields)
        use_mosaic = self.p > 0 and ctx.progress < self.off
        if use_mosaic and float(torch.rand((), generator=gen)) < self.p:
            four = [sample] + [_only(ctx.draw(), *self.fields) for _ in range(3)]
            out = mosaic(four, self.aug.size, gen, scale=self.scale)
            out = self.aug.jitter(out, gen)
        else:
            out = self.aug(sample, gen)
        seed = int(torch.randint(2**62, (), generator=gen))
        frame = self.aug.frame(sample.size)
        target = _detections(out, *self.fields)
        return DetItem(out.image, target, original, frame, sample.image_id, seed)


class DetectionTask(BatchwiseEvaluation):
    """``spec``: the detector (any :data:`DetectorSpec`); ``size``: the square input side;
    ``classes``: names with ``classes[0] == "background"``; ``mosaic``: probability of a 2x2
    mosaic per training image, used until ``mosaic_off`` of the training budget is spent;
    ``scale``: random scale range. With a keypoint head: ``flip_perm`` (keypoint order in a
    mirror image), ``oks_sigmas`` (per-keypoint OKS constants; COCO's own for 17, else
    :data:`DEFAULT_SIGMA`), ``skeleton`` (pairs drawn).

    Detectors whose proposals are computed once per image and cached (R-CNN and Fast R-CNN:
    ``spec.fixed_proposals``) train on the letterboxed images and their flips only, as the
    papers did: any other augmentation would make every image new and selective search would
    run on each of them in every step."""

    name = "detect"
    main_metric = "AP"
    # trains under bf16 autocast as well as in fp32 (benchmarks/precision.py, issue 22's note);
    # Mask R-CNN's mask AP measured 0.009 lower in bf16 (beyond the seeds' spread): fp32
    BF16_MEASURED = ("grid", "faster-rcnn")

    def __init__(
        self,
        spec: DetectorSpec,
        size: int,
        classes: list[str],
        mosaic: float = 1.0,
        mosaic_off: float = 0.85,
        scale: tuple[float, float] = (0.5, 1.5),
        flip: float = 0.5,
        flip_perm: list[int] | None = None,
        oks_sigmas: list[float] | None = None,
        skeleton: list[list[int]] | None = None,
    ) -> None:
        if classes[0] != "background":
            raise ValueError(f"detection classes must start with 'background', got {classes}")
        if len(classes) - 1 != spec.num_classes:
            raise ValueError(
                f"{len(classes)} class names (with background) for {spec.num_classes} classes"
            )
        self.spec, self.size, self.classes = spec, int(size), list(classes)
        self.mosaic, self.mosaic_off, self.scale, self.flip = mosaic, mosaic_off, tuple(scale), flip
        self.masks = spec.mask is not None  # targets carry instance masks
        k = spec.num_keypoints
        self.keypoints = k > 0  # targets carry keypoints
        if flip_perm is not None and sorted(flip_perm) != list(range(k)):
            raise ValueError(f"flip_perm must permute 0..{k - 1}, got {flip_perm}")
        if k and oks_sigmas is not None and len(oks_sigmas) != k:
            raise ValueError(f"{len(oks_sigmas)} OKS sigmas for {k} keypoints")
        if k and k != 17 and oks_sigmas is None:
            oks_sigmas = [DEFAULT_SIGMA] * k  # COCO's own apply to its 17 keypoints only
        self.flip_perm = list(flip_perm) if flip_perm is not None else None
        self.oks_sigmas = list(oks_sigmas) if oks_sigmas is not None else None
        self.skeleton = [list(p) for p in skeleton or []]

    @property
    def bf16_training(self) -> bool:
        """Whether ``--precision auto`` may train this detector under bf16 autocast."""
        kind = "grid" if isinstance(self.spec, GridSpec) else getattr(self.spec, "model", None)
        return kind in self.BF16_MEASURED and bf16_measured(self.spec.backbone.name)

    def spec_dict(self) -> dict:
        return {
            "detector": self.spec.to_dict(),
            "size": self.size,
            "classes": self.classes,
            "mosaic": self.mosaic,
            "mosaic_off": self.mosaic_off,
            "scale": list(self.scale),
            "flip": self.flip,
            "flip_perm": self.flip_perm,
            "oks_sigmas": self.oks_sigmas,
            "skeleton": self.skeleton,
        }

    @classmethod
    def from_spec_dict(cls, d: dict) -> DetectionTask:
        spec, rest = split_task_dict(d)
        return cls(spec, **rest)

    @staticmethod
    def check_sample(sample: Sample) -> None:
        """Every sample works: an image without objects is a valid negative."""

    def build_model(self) -> nn.Module:
        # The task chooses where selective search caches its boxes (a folder the user named
        # with the spec, else the default); models choose no folder.
        cache = proposal_cache(self.spec.cache) if self.spec.fixed_proposals else None
        return self.spec.build(proposal_cache=cache)

    def _augment(self, train: bool) -> DetectionAugment:
        return DetectionAugment((self.size, self.size), train=train, scale=self.scale,
                                flip=self.flip, flip_perm=self.flip_perm)  # fmt: skip

    def transform(self, train: bool):
        if train and not self.spec.fixed_proposals:
            return _Train(self._augment(True), self.mosaic, self.mosaic_off, self.scale,
                          (self.masks, self.keypoints))  # fmt: skip
        aug = self._augment(False)
        flip = self.flip if train else 0.0

        def plain(sample: Sample, gen=None) -> DetItem:
            original = _original(sample, self.masks, self.keypoints)
            sample = _only(sample, self.masks, self.keypoints)
            out, frame = aug.letterbox_frame(sample)
            seed = 0
            if gen is not None:  # training of R-CNN / Fast R-CNN: flips only (see __init__)
                if float(torch.rand((), generator=gen)) < flip:
                    out = hflip(out)
                seed = int(torch.randint(2**62, (), generator=gen))
            target = _detections(out, self.masks, self.keypoints)
            return DetItem(out.image, target, original, frame, sample.image_id, seed)

        return plain

    collate = staticmethod(collate)

    def _call(self, model: nn.Module, batch: DetBatch, device: torch.device):
        images = like_model(batch.images, model)
        # one generator per image, seeded by its sample: an image samples the same regions
        # in whatever batch (or data-parallel slice) it trains
        gens = [torch.Generator().manual_seed(s & 0x7FFF_FFFF_FFFF) for s in batch.seeds]
        return model(images, batch.on(device), generator=gens)

    def step(self, model: nn.Module, batch: DetBatch, device: torch.device) -> StepOutput:
        out = self._call(model, batch, device)
        logs = {f"loss_{k}": float(v.detach()) for k, v in out.losses.items()}
        logs.update({f"w_{k}": v for k, v in out.weights.items()})
        return StepOutput(out.loss, logs)

    def evaluate_batch(self, model: nn.Module, batch: DetBatch, device) -> dict:
        """The batch's detections in original pixels (:meth:`scored`), its annotations and
        image sizes, and its losses."""
        out = self._call(model, batch, device)
        preds, sizes = [], []
        for det, frame in zip(out.detections, batch.frames):
            preds.append(self.scored(self.to_original(det.to("cpu"), frame)))
            sizes.append((frame.orig_h, frame.orig_w))
        k = len(batch.ids)
        return {"preds": preds, "gts": list(batch.originals), "sizes": sizes,
                "losses": loss_sums(out.loss, k, out.losses), "n": k}  # fmt: skip

    def summarize(self, parts: list[dict]) -> dict:
        def cat(key):
            return [x for p in parts for x in p[key]]

        return {**self.metrics(cat("preds"), cat("gts"), cat("sizes")), **loss_means(parts)}

    @property
    def mask_threshold(self) -> float:
        """The probability at which a predicted mask keeps a pixel: its head's spec (0.5, the
        paper's, without a mask head)."""
        mask = getattr(self.spec, "mask", None)
        return mask.threshold if mask is not None else 0.5

    def scored(self, det: Detections) -> Detections:
        """A prediction in original pixels as evaluation keeps it: masks thresholded at
        :attr:`mask_threshold` at once (a validation set's float masks at full resolution
        would take gigabytes)."""
        if det.masks is None:
            return det
        return replace(det, masks=det.masks >= self.mask_threshold)

    def metrics(self, preds: list[Detections], gts: list[Detections], sizes: list) -> dict:
        """:func:`coco_metrics` of this task's heads."""
        return coco_metrics(preds, gts, sizes, self.classes, masks=self.masks,
                            keypoints=self.keypoints, sigmas=self.oks_sigmas)  # fmt: skip

    to_original = staticmethod(to_original)

    @torch.inference_mode()
    def predict(self, model: nn.Module, images: torch.Tensor) -> list[Detections]:
        """``images``: float ``(N, 3, H, W)`` in ``[0, 1]`` -> one :class:`Detections` per image
        in its own pixels (scores, labels indexing :attr:`classes`)."""
        model.eval()
        aug = self._augment(False)
        out_dets = []
        pixels = to_pixels(images)
        for img in pixels:
            letter, frame = aug.letterbox_image(img)
            # divided in place: no second (1, 3, S, S) float tensor to allocate and fill
            x = like_model(letter[None].float().div_(255), model)
            det = model(x).detections[0].to("cpu")
            out_dets.append(self.to_original(det, frame))
        return out_dets
