"""The one backbone description every detector uses, and its builder.

``csp`` is our CSP trunk (:class:`~regionlab.models.detection.csp.CSPBackbone`, the grid's and
Faster R-CNN's default), ``small`` the VGG-like CNN that R-CNN and the sliding window run on
every crop, anything else a torchvision classifier by name (weights only from a local file).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import nn

from regionlab.models.backbones import build_encoder
from regionlab.models.detection.csp import CSPBackbone

__all__ = ["BackboneSpec", "build_backbone"]

# The defaults of each built-in trunk: sized for a CPU.
_DEFAULT_WIDTHS = {"csp": [16, 32, 64, 128, 256], "small": [16, 32, 64, 128]}
_DEFAULT_DEPTHS = [0, 1, 1, 1]


@dataclass
class BackboneSpec:
    """``name``: ``csp``, ``small`` or a torchvision backbone (``resnet18``, ``resnet50``,
    ``resnext50_32x4d``, ``mobilenet_v3_large``, ``mobilenet_v3_small``); ``widths``: the
    stem's and each stage's channels (``csp``, ``small``; ``None``: the trunk's default);
    ``depths``: bottlenecks per ``csp`` stage; ``pretrained``: a local state-dict file for a
    torchvision backbone. Plain values, stored in checkpoints."""

    name: str = "csp"
    widths: list[int] | None = None
    depths: list[int] | None = None
    pretrained: str | None = None

    def __post_init__(self) -> None:
        if self.widths is None and self.name in _DEFAULT_WIDTHS:
            self.widths = list(_DEFAULT_WIDTHS[self.name])
        if self.depths is None and self.name == "csp":
            self.depths = list(_DEFAULT_DEPTHS)
        if self.pretrained and self.name in _DEFAULT_WIDTHS:
            raise ValueError(f"pretrained weights are for torchvision backbones, not {self.name!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def build_backbone(spec: BackboneSpec) -> nn.Module:
    """An encoder with ``strides`` and ``channels`` returning an
    :class:`~regionlab.models.backbones.EncoderOutput` (maps finest first)."""
    if spec.name == "csp":
        return CSPBackbone(spec.widths, spec.depths)
    if spec.name == "small":
        return build_encoder("small", widths=tuple(spec.widths))
    return build_encoder(spec.name, widths=tuple(spec.widths or ()), pretrained=spec.pretrained)
