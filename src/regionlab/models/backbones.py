"""Backbones as multi-scale encoders: a small built-in CNN or a torchvision classifier.

An encoder maps ``images: float (N, 3, H, W)`` to a list of feature maps, finest first, with
``channels[i]`` channels at ``strides[i]`` (e.g. 1, 2, 4, 8, 16). The small CNN also returns the
indices of its max-pools, so a SegNet decoder can unpool to the remembered positions.

Pretrained weights come only from a local state-dict file (:func:`load_pretrained`); nothing is
downloaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
import torchvision
from torch import nn

from regionlab.names import TORCHVISION_BACKBONES
from regionlab.safeload import safe_load

BackboneName = Literal[
    "small", "resnet18", "resnet50", "resnext50_32x4d", "mobilenet_v3_large", "mobilenet_v3_small"
]


def conv_bn_relu(
    cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1
) -> nn.Sequential:
    pad = dilation * (k - 1) // 2
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, pad, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class EncoderOutput:
    """Feature maps finest-first, plus max-pool indices (``None`` where a stage did not max-pool)."""

    def __init__(self, features: list[torch.Tensor], indices: list[torch.Tensor | None]):
        self.features = features
        self.indices = indices


class SmallEncoder(nn.Module):
    """A VGG/SegNet-like CNN sized for a CPU: a full-resolution stem, then ``len(widths)`` stages
    of ``max-pool 2x2 -> 2 x (conv3x3-BN-ReLU)``.

    Features at strides ``1, 2, 4, ...`` with ``channels = (stem, *widths)``.
    """

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128, 256), stem: int = 16) -> None:
        super().__init__()
        self.stem = nn.Sequential(conv_bn_relu(3, stem), conv_bn_relu(stem, stem))
        stages, cin = [], stem
        for w in widths:
            stages.append(nn.Sequential(conv_bn_relu(cin, w), conv_bn_relu(w, w)))
            cin = w
        self.stages = nn.ModuleList(stages)
        self.channels = (stem, *widths)
        self.strides = tuple(2**i for i in range(len(widths) + 1))

    def forward(self, x: torch.Tensor) -> EncoderOutput:
        x = self.stem(x)
        feats, idx = [x], [None]
        for stage in self.stages:
            x, ind = nn.functional.max_pool2d(x, 2, 2, return_indices=True)
            x = stage(x)
            feats.append(x)
            idx.append(ind)
        return EncoderOutput(feats, idx)


def torchvision_classifier(name: str) -> nn.Module:
    """An untrained torchvision classifier (never downloads)."""
    if name not in TORCHVISION_BACKBONES:
        raise ValueError(
            f"unknown backbone {name!r}; choose small or one of {', '.join(TORCHVISION_BACKBONES)}"
        )
    return getattr(torchvision.models, name)(weights=None)


def load_pretrained(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a local torchvision state-dict file into ``model`` (a torchvision classifier).

    The classifier layers (``fc.*``, ``classifier.*``) may be absent or of another size; every
    other key must match exactly, else a :class:`ValueError` names the file and the keys.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: pretrained weights file does not exist")
    state = safe_load(path, "weights file")
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(state).__name__}")
    own = model.state_dict()
    head = ("fc.", "classifier.")
    state = {
        k: v
        for k, v in state.items()
        if not (k.startswith(head) and (k not in own or own[k].shape != v.shape))
    }
    missing = [k for k in own if k not in state and not k.startswith(head)]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in state if k in own and own[k].shape != state[k].shape]
    if missing or unexpected or wrong:
        raise ValueError(
            f"{path}: weights do not fit {type(model).__name__}: "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}, "
            f"wrong shape {wrong[:5]}"
        )
    model.load_state_dict(state, strict=False)
    return model


def _layers(name: str, model: nn.Module) -> list[nn.Module]:
    """The classifier's feature path as an ordered list of modules (the head left out)."""
    if name.startswith(("resnet", "resnext")):
        return [
            nn.Sequential(model.conv1, model.bn1, model.relu),
            model.maxpool,
            model.layer1,
            model.layer2,
            model.layer3,
            model.layer4,
        ]
    return list(model.features)


class TorchvisionEncoder(nn.Module):
    """Multi-scale features from a torchvision classifier: the last layer output at each stride.

    ``pretrained``: optional local state-dict file for the classifier (see :func:`load_pretrained`).
    """

    def __init__(self, name: str, pretrained: str | Path | None = None) -> None:
        super().__init__()
        clf = torchvision_classifier(name)
        if pretrained:
            load_pretrained(clf, pretrained)
        self.layers = nn.ModuleList(_layers(name, clf))
        # Find, by a dry run, which layer ends each stride and its channel count.
        with torch.no_grad():
            was = self.training
            self.eval()
            x = torch.zeros(1, 3, 64, 64)
            taps: dict[int, tuple[int, int]] = {}
            for i, layer in enumerate(self.layers):
                x = layer(x)
                taps[64 // x.shape[-1]] = (i, x.shape[1])
            self.train(was)
        self.strides = tuple(sorted(taps))
        self.tap_layers = tuple(taps[s][0] for s in self.strides)
        self.channels = tuple(taps[s][1] for s in self.strides)

    def forward(self, x: torch.Tensor) -> EncoderOutput:
        feats = []
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i in self.tap_layers:
                feats.append(x)
            if i == self.tap_layers[-1]:
                break
        return EncoderOutput(feats, [None] * len(feats))


def build_encoder(
    name: str = "small",
    *,
    widths: tuple[int, ...] = (32, 64, 128, 256),
    pretrained: str | Path | None = None,
) -> nn.Module:
    if name == "small":
        if pretrained:
            raise ValueError("pretrained weights are for torchvision backbones, not 'small'")
        return SmallEncoder(widths)
    return TorchvisionEncoder(name, pretrained)


class Normalize(nn.Module):
    """Images in ``[0, 1]`` to ImageNet-normalised (buffers, so they travel with the model)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std
