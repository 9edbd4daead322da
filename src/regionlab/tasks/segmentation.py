"""Semantic segmentation as an engine task."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from regionlab.data.sample import IGNORE_INDEX, Sample
from regionlab.data.transforms import SegmentationAugment
from regionlab.engine.task import StepOutput
from regionlab.eval.segmentation import ConfusionMatrix
from regionlab.models.segmentation.builders import SegmentationSpec, build_segmentation_model
from regionlab.tasks.common import (
    BatchwiseEvaluation,
    bf16_measured,
    like_model,
    loss_means,
    loss_sums,
    resize_images,
    spec_dict,
    split_spec_dict,
)


@dataclass
class SegBatch:
    images: torch.Tensor  # float (N, 3, H, W) in [0, 1]
    targets: torch.Tensor  # int64 (N, H, W), IGNORE_INDEX where unlabelled
    ids: list


def collate(samples: list[Sample]) -> SegBatch:
    images = torch.stack([s.image for s in samples]).float().div_(255.0)
    targets = torch.stack(
        [
            s.semantic
            if s.semantic is not None
            else torch.full(s.size, IGNORE_INDEX, dtype=torch.int64)
            for s in samples
        ]
    )
    return SegBatch(images, targets, [s.image_id for s in samples])


class SegmentationTask(BatchwiseEvaluation):
    """``spec``: the model; ``size``: ``(H, W)`` every image is resized to; ``classes``: names;
    ``background``: whether class 0 is a background (not painted in pictures) or a real class
    (CamVid's sky); by default, when it is named ``"background"``."""

    name = "segment"
    main_metric = "miou"

    def __init__(
        self,
        spec: SegmentationSpec,
        size: tuple[int, int],
        classes: list[str],
        scale: tuple[float, float] = (0.75, 1.5),
        colour: float = 0.0,
    ) -> None:
        if len(classes) != spec.num_classes:
            raise ValueError(f"{len(classes)} class names for {spec.num_classes} classes")
        self.spec, self.size, self.classes, self.scale = spec, tuple(size), list(classes), scale
        self.colour = colour  # training colour jitter (data/transforms.py: colour_jitter)

    @property
    def background(self) -> bool:
        return self.classes[0] == "background"

    @property
    def bf16_training(self) -> bool:
        """Whether ``--precision auto`` may train this model under bf16 autocast."""
        return self.spec.arch == "encdec" and bf16_measured(self.spec.backbone)

    def spec_dict(self) -> dict:
        return spec_dict(self.spec, size=list(self.size), classes=self.classes)

    @classmethod
    def from_spec_dict(cls, d: dict) -> SegmentationTask:
        spec, rest = split_spec_dict(d, SegmentationSpec)
        return cls(spec, tuple(rest["size"]), rest["classes"])

    @staticmethod
    def check_sample(sample: Sample) -> None:
        """Every sample works: one without a class map trains as all-ignored."""

    def build_model(self) -> nn.Module:
        return build_segmentation_model(self.spec)

    def transform(self, train: bool):
        c = self.colour  # the hue moves a twentieth as far (0.015 of the wheel at 0.3)
        return SegmentationAugment(self.size, train=train, scale=self.scale, colour=c, hue=c / 20)

    collate = staticmethod(collate)

    def step(self, model: nn.Module, batch: SegBatch, device: torch.device) -> StepOutput:
        out = model(like_model(batch.images, model), batch.targets.to(device))
        return StepOutput(out.loss)

    def evaluate_batch(self, model: nn.Module, batch: SegBatch, device: torch.device) -> dict:
        """The batch's pixel confusion counts ``(C, C)`` and loss (see
        :class:`~regionlab.tasks.common.BatchwiseEvaluation`)."""
        out = model(like_model(batch.images, model), batch.targets.to(device))
        cm = ConfusionMatrix(self.spec.num_classes)
        cm.update(out.logits.argmax(1).cpu(), batch.targets)
        k = len(batch.images)
        return {"counts": cm.counts, "losses": loss_sums(out.loss, k), "n": k}

    def summarize(self, parts: list[dict]) -> dict:
        cm = ConfusionMatrix(self.spec.num_classes)
        for part in parts:
            cm.counts += part["counts"]
        m = cm.compute(self.classes)
        return {
            "miou": m["miou"],
            "pixel_acc": m["pixel_acc"],
            **loss_means(parts),
            **{f"iou/{k}": v for k, v in m["iou"].items()},
        }

    @torch.inference_mode()
    def predict(self, model: nn.Module, images: torch.Tensor) -> torch.Tensor:
        """``images``: float ``(N, 3, H, W)`` in [0, 1] at any size -> class map ``(N, H, W)``.

        Images are resized to the training size, and the logits back to each input's size.
        """
        model.eval()
        h, w = images.shape[-2:]
        logits = model(like_model(resize_images(images, self.size), model)).logits.float()
        logits = torch.nn.functional.interpolate(
            logits, size=(h, w), mode="bilinear", align_corners=False
        )
        return logits.argmax(1).cpu()


def median_frequency_weights(dataset, num_classes: int, limit: int = 200) -> list[float]:
    """SegNet's median-frequency balancing: ``w_c = median(f) / f_c`` with ``f_c`` the pixel
    frequency of class ``c`` over the images that contain it (first ``limit`` samples; those
    without a class map count for nothing, as in training; with none at all, every weight
    is 1)."""
    counts = torch.zeros(num_classes, dtype=torch.float64)
    image_px = torch.zeros(num_classes, dtype=torch.float64)
    for i in range(min(limit, len(dataset))):
        sem = dataset[i].semantic
        if sem is None:
            continue
        valid = sem[sem != IGNORE_INDEX]
        c = torch.bincount(valid, minlength=num_classes)[:num_classes].double()
        counts += c
        image_px += (c > 0).double() * valid.numel()
    freq = counts / image_px.clamp(min=1)
    if not bool((freq > 0).any()):
        return [1.0] * num_classes
    med = freq[freq > 0].median()
    w = torch.where(freq > 0, med / freq.clamp(min=1e-12), torch.ones_like(freq))
    return [round(float(x), 4) for x in w]
