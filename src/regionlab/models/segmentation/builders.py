"""Typed builders: one :class:`SegmentationSpec` describes a model; it is stored in checkpoints
so ``regionlab eval CKPT`` can rebuild the exact model."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import torch
from torch import nn

from regionlab.models.backbones import build_encoder
from regionlab.models.segmentation.encoder_decoder import EncoderDecoder
from regionlab.models.segmentation.fullres_fcn import FullResFCN
from regionlab.models.segmentation.patch_classifier import PatchClassifier
from regionlab.names import SEG_ARCHS, UPSAMPLERS

SegArch = Literal["patch", "fcn", "encdec"]


@dataclass
class SegmentationSpec:
    """Everything needed to rebuild a segmentation model.

    - ``arch``: ``patch`` (sliding-window patch classifier), ``fcn`` (full resolution),
      ``encdec`` (encoder-decoder).
    - ``upsampler``/``kernel``/``skips``/``backbone``/``widths``: encoder-decoder options.
    - ``pretrained``: local torchvision state-dict file for the backbone (not stored weights).
    - ``class_weights``: per-class loss weights (e.g. median-frequency balancing) or ``None``.
    - ``dice``: weight of a soft Dice loss added to the cross-entropy (0: cross-entropy only).
    """

    num_classes: int
    arch: str = "encdec"
    upsampler: str = "bilinear"
    kernel: int = 4
    skips: bool = True
    backbone: str = "small"
    widths: list[int] = field(default_factory=lambda: [32, 64, 128, 256])
    patch: int = 25
    width: int = 32
    pretrained: str | None = None
    class_weights: list[float] | None = None
    dice: float = 0.0

    def validate(self) -> None:
        if self.arch not in SEG_ARCHS:
            raise ValueError(
                f"unknown segmentation model {self.arch!r}; choose {', '.join(SEG_ARCHS)}"
            )
        if self.upsampler not in UPSAMPLERS:
            raise ValueError(
                f"unknown upsampler {self.upsampler!r}; choose {', '.join(UPSAMPLERS)}"
            )
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}")
        if self.class_weights is not None and len(self.class_weights) != self.num_classes:
            raise ValueError(
                f"class_weights has {len(self.class_weights)} entries for "
                f"{self.num_classes} classes"
            )

    def to_dict(self) -> dict:
        return asdict(self)


def build_segmentation_model(spec: SegmentationSpec) -> nn.Module:
    spec.validate()
    w = torch.tensor(spec.class_weights, dtype=torch.float32) if spec.class_weights else None
    if spec.arch == "patch":
        return PatchClassifier(
            spec.num_classes, spec.patch, spec.width, class_weights=w, dice=spec.dice
        )
    if spec.arch == "fcn":
        return FullResFCN(spec.num_classes, spec.width, class_weights=w, dice=spec.dice)
    encoder = build_encoder(spec.backbone, widths=tuple(spec.widths), pretrained=spec.pretrained)
    return EncoderDecoder(
        encoder,
        spec.num_classes,
        spec.upsampler,
        spec.skips,
        spec.kernel,
        class_weights=w,
        dice=spec.dice,
    )
