"""Classification + localization of one object per image as an engine task.

Any detection dataset works: each sample is reduced to its largest non-crowd object
(:func:`~regionlab.data.transforms.largest_object`); a sample without one is an error naming its
file, never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torchvision.ops import box_convert, clip_boxes_to_image

from regionlab.data.errors import DataError
from regionlab.data.sample import Sample
from regionlab.data.transforms import ObjectAugment, largest_object
from regionlab.engine.task import StepOutput
from regionlab.eval.localization import localization_metrics
from regionlab.models.localization.builders import LocalizationSpec, build_localization_model
from regionlab.models.localization.net import LocalizationTargets
from regionlab.ops.boxes import denormalize_boxes, normalize_boxes
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
class LocBatch:
    images: torch.Tensor  # float (N, 3, H, W) in [0, 1]
    labels: torch.Tensor  # int64 (N,) object class in [0, num_classes) (dataset label - 1)
    boxes: torch.Tensor  # float (N, 4) cxcywh normalised by the input size
    ids: list

    def targets(self, device: torch.device) -> LocalizationTargets:
        return LocalizationTargets(self.labels.to(device), self.boxes.to(device))


def single_object(sample: Sample) -> Sample:
    try:
        return largest_object(sample)
    except ValueError as e:
        raise DataError(sample.path or "<generated>", str(e), f"image {sample.image_id}") from None


def collate(samples: list[Sample]) -> LocBatch:
    images = torch.stack([s.image for s in samples]).float().div_(255.0)
    boxes = normalize_boxes(torch.cat([s.boxes[:1] for s in samples]), images.shape[-2:])
    labels = torch.cat([s.labels[:1] for s in samples]) - 1
    return LocBatch(images, labels, boxes, [s.image_id for s in samples])


def multitask_logs(out) -> dict[str, float]:
    """Each task's unweighted loss and current weight, for the training log."""
    logs = {f"loss_{k}": float(v.detach()) for k, v in out.losses.items()}
    logs.update({f"w_{k}": v for k, v in out.weights.items()})
    return logs


class LocalizationTask(BatchwiseEvaluation):
    """``classes``: the dataset's names, ``classes[0] == "background"``; ``size``: ``(H, W)``
    every image is warped to; ``crop``: area range of the training crops (which keep the box)."""

    name = "localize"
    main_metric = "loc_acc"

    def __init__(
        self,
        spec: LocalizationSpec,
        size: tuple[int, int],
        classes: list[str],
        crop: tuple[float, float] = (0.5, 1.0),
    ) -> None:
        if len(classes) - 1 != spec.num_classes:
            raise ValueError(
                f"{len(classes)} class names (with background) for {spec.num_classes} object classes"
            )
        self.spec, self.size, self.classes, self.crop = spec, tuple(size), list(classes), crop

    @property
    def bf16_training(self) -> bool:
        """Whether ``--precision auto`` may train this model under bf16 autocast."""
        return bf16_measured(self.spec.backbone)

    def spec_dict(self) -> dict:
        return spec_dict(self.spec, size=list(self.size), classes=self.classes)

    @classmethod
    def from_spec_dict(cls, d: dict) -> LocalizationTask:
        spec, rest = split_spec_dict(d, LocalizationSpec)
        return cls(spec, tuple(rest["size"]), rest["classes"])

    @staticmethod
    def check_sample(sample: Sample) -> None:
        """A sample needs one non-crowd object (its largest is the one to localize)."""
        single_object(sample)

    def build_model(self) -> nn.Module:
        return build_localization_model(self.spec)

    def transform(self, train: bool):
        aug = ObjectAugment(self.size, train=train, crop=self.crop)
        return lambda sample, gen=None: aug(single_object(sample), gen)

    collate = staticmethod(collate)

    def step(self, model: nn.Module, batch: LocBatch, device: torch.device) -> StepOutput:
        out = model(like_model(batch.images, model), batch.targets(device))
        return StepOutput(out.loss, multitask_logs(out))

    def evaluate_batch(self, model: nn.Module, batch: LocBatch, device: torch.device) -> dict:
        """The batch's predicted classes and ``cxcywh`` boxes beside its own, and its losses."""
        out = model(like_model(batch.images, model), batch.targets(device))
        k = len(batch.labels)
        return {
            "pred": out.logits.argmax(1).cpu(),
            "pred_boxes": out.boxes.float().cpu(),
            "labels": batch.labels,
            "boxes": batch.boxes,
            "losses": loss_sums(out.loss, k, out.losses),
            "n": k,
        }

    def summarize(self, parts: list[dict]) -> dict:
        def cat(key):
            return torch.cat([p[key] for p in parts])

        m = localization_metrics(
            cat("pred"),
            box_convert(cat("pred_boxes"), "cxcywh", "xyxy"),
            cat("labels"),
            box_convert(cat("boxes"), "cxcywh", "xyxy"),
        )
        m.pop("n")
        return {**m, **loss_means(parts)}

    @torch.inference_mode()
    def predict(self, model: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """``images``: float ``(N, 3, H, W)`` in [0, 1], any size -> ``labels`` (dataset label
        indices, background excluded), ``scores`` (softmax probability) and ``boxes`` ``xyxy``
        in the input's pixels, clipped to the image."""
        model.eval()
        h, w = images.shape[-2:]
        out = model(like_model(resize_images(images, self.size), model))
        prob = out.logits.float().softmax(1).cpu()
        scores, labels = prob.max(1)
        cxcywh = out.boxes.float().cpu().clone()
        cxcywh[:, 2:] = cxcywh[:, 2:].clamp(min=0)  # a raw regression may come out inverted
        boxes = clip_boxes_to_image(denormalize_boxes(cxcywh, (h, w)), (h, w))
        return {"labels": labels + 1, "scores": scores, "boxes": boxes}
