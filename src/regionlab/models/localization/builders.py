"""Typed specs for the localization and keypoint models (stored in checkpoints)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from regionlab.models.backbones import build_encoder
from regionlab.models.localization.keypoints import KeypointNet
from regionlab.models.localization.net import LocalizationNet
from regionlab.models.losses import MultiTaskLoss


@dataclass
class LocalizationSpec:
    """``num_classes``: object classes (no background). ``loss_weight``: lambda in
    ``cls + lambda * box`` (``fixed`` weighting). ``weighting``: ``fixed | uncertainty |
    gradnorm``; ``alpha``: GradNorm's asymmetry."""

    num_classes: int
    backbone: str = "small"
    widths: list[int] = field(default_factory=lambda: [16, 32, 64, 128])
    pretrained: str | None = None
    class_specific: bool = False
    box_loss: str = "smooth_l1"
    loss_weight: float = 1.0
    weighting: str = "fixed"
    alpha: float = 1.5
    pool: int = 4
    hidden: int = 256
    dropout: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class KeypointSpec:
    """``loss_weight``: lambda in ``coords + lambda * visibility`` (``fixed`` weighting)."""

    num_keypoints: int
    backbone: str = "small"
    widths: list[int] = field(default_factory=lambda: [16, 32, 64, 128])
    pretrained: str | None = None
    coord_loss: str = "smooth_l1"
    loss_weight: float = 0.1
    weighting: str = "fixed"
    alpha: float = 1.5
    pool: int = 4
    hidden: int = 256
    dropout: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _encoder(spec: LocalizationSpec | KeypointSpec):
    return build_encoder(spec.backbone, widths=tuple(spec.widths), pretrained=spec.pretrained)


def build_localization_model(spec: LocalizationSpec) -> LocalizationNet:
    if spec.num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {spec.num_classes}")
    loss = MultiTaskLoss(
        {"cls": "classification", "box": "regression"},
        spec.weighting,
        {"cls": 1.0, "box": spec.loss_weight},
        spec.alpha,
    )
    return LocalizationNet(
        _encoder(spec),
        spec.num_classes,
        loss,
        spec.class_specific,
        spec.box_loss,
        spec.pool,
        spec.hidden,
        spec.dropout,
    )


def build_keypoint_model(spec: KeypointSpec) -> KeypointNet:
    if spec.num_keypoints < 1:
        raise ValueError(f"num_keypoints must be >= 1, got {spec.num_keypoints}")
    loss = MultiTaskLoss(
        {"coords": "regression", "visibility": "classification"},
        spec.weighting,
        {"coords": 1.0, "visibility": spec.loss_weight},
        spec.alpha,
    )
    return KeypointNet(
        _encoder(spec),
        spec.num_keypoints,
        loss,
        spec.coord_loss,
        spec.pool,
        spec.hidden,
        spec.dropout,
    )
