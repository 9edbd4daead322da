"""What the tasks share: their checkpoint description, and predict-time resizing."""

from __future__ import annotations

from dataclasses import fields

import torch
import torch.nn.functional as F
from torch import nn

from regionlab.names import PROPOSAL_CACHE

# Backbones whose training was measured under bf16 autocast (benchmarks/precision.py): our
# dense CNNs, the same metrics within noise for the same steps, runs 1.3-1.5x faster.
# MobileNetV3 (depthwise convolutions, memory-bound) trained slower in bf16 (CamVid, 240x320,
# 200 steps: 146 s fp32, 160 s bf16); the other torchvision backbones were not measured.
BF16_BACKBONES = ("small", "csp")


def bf16_measured(backbone: str) -> bool:
    """Whether ``--precision auto`` may train a model on ``backbone`` under bf16 autocast (the
    tasks' ``bf16_training``, read by :mod:`regionlab.engine.precision`)."""
    return backbone in BF16_BACKBONES


def spec_dict(spec, **task_fields) -> dict:
    """A checkpoint's ``spec``: the model spec's fields plus the task's own. A task field may
    not reuse a model field's name (it would silently overwrite it in the checkpoint)."""
    d = spec.to_dict()
    clash = sorted(set(d) & set(task_fields))
    if clash:
        raise ValueError(f"task field(s) {clash} clash with {type(spec).__name__} fields")
    return {**d, **task_fields}


def split_spec_dict(d: dict, spec_cls) -> tuple[object, dict]:
    """Inverse of :func:`spec_dict`: the model spec and the task's keyword arguments."""
    names = {f.name for f in fields(spec_cls)}
    # fields a spec gained after a checkpoint was written get the value it was built with
    legacy = getattr(spec_cls, "LEGACY", {})
    spec = spec_cls(**{**legacy, **{k: v for k, v in d.items() if k in names}})
    return spec, {k: v for k, v in d.items() if k not in names}


def resize_images(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``float (N, 3, H, W)`` -> ``(N, 3, *size)``, bilinear with antialiasing (as training
    resizes samples)."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False, antialias=True)


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def like_model(images: torch.Tensor, model: nn.Module) -> torch.Tensor:
    """``images`` on the model's device and in its memory layout: NHWC when its convolution
    weights are channels_last (the engine's ``channels_last`` option), NCHW otherwise."""
    images = images.to(model_device(model))
    # A 1x1 kernel is contiguous in both layouts: look at a larger one.
    conv = next((p for p in model.parameters() if p.dim() == 4 and p.shape[-1] > 1), None)
    if conv is not None and conv.is_contiguous(memory_format=torch.channels_last):
        return images.contiguous(memory_format=torch.channels_last)
    return images.contiguous()


def proposal_cache(folder: str | None = None):
    """The on-disk selective-search cache the task hands its detector (models choose no
    folder)."""
    from regionlab.ops.proposals import ProposalCache

    return ProposalCache(folder or PROPOSAL_CACHE)


class BatchwiseEvaluation:
    """Evaluation in two halves, so the engine can spread the first over processes:

    - ``evaluate_batch(model, batch, device) -> part``: what the metrics need of one batch
      (CPU tensors and plain values, picklable), computed with the model;
    - ``summarize(parts) -> metrics``: the metrics from every batch's part, in batch order,
      without the model.

    One process and many compute the same parts (the same batches, the same model) and
    summarize them in the same order, so the metrics are the same exactly."""

    def evaluate(self, model: nn.Module, batches, device: torch.device) -> dict:
        """The metrics over ``batches`` in one process."""
        return self.summarize([self.evaluate_batch(model, b, device) for b in batches])


def loss_sums(loss: torch.Tensor, k: int, losses: dict | None = None) -> dict[str, float]:
    """A batch's total loss (``loss``) and per-task losses (``loss_<name>``), each times its
    ``k`` samples, for :func:`loss_means`."""
    sums = {"loss": float(loss) * k}
    sums.update({f"loss_{name}": float(v) * k for name, v in (losses or {}).items()})
    return sums


def loss_means(parts: list[dict]) -> dict[str, float]:
    """Sample-weighted means over batches' parts (each with ``losses`` from :func:`loss_sums`
    and its sample count ``n``), summed in batch order."""
    totals: dict[str, float] = {}
    n = 0
    for part in parts:
        for key, value in part["losses"].items():
            totals[key] = totals.get(key, 0.0) + value
        n += part["n"]
    return {key: value / max(n, 1) for key, value in totals.items()}
