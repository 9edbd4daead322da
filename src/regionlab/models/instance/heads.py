"""Mask R-CNN's mask head and its two losses (the paper's decoupled sigmoid, and the per-pixel
softmax of its ablation, Table 2b).

``MaskHead``: RoI features ``(R, C, s, s)`` -> ``(R, K, 2s, 2s)`` logits through ``convs``
``3x3`` convolutions of ``width`` channels, a ``2x2`` stride-2 transposed convolution and a
``1x1`` to ``K`` channels: one mask per class (``K = num_classes``) for ``"sigmoid"``, one per
class plus background (``K = num_classes + 1``) for ``"softmax"``. torchvision's head is 4 convs
of 256 channels at 14 x 14; ours is sized for a CPU by ``convs`` / ``width``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

KINDS = ("sigmoid", "softmax")


class MaskHead(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, width: int = 64, convs: int = 4,
                 kind: str = "sigmoid") -> None:  # fmt: skip
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"mask loss must be sigmoid or softmax, got {kind!r}")
        self.num_classes, self.kind = num_classes, kind
        layers: list[nn.Module] = []
        c = in_channels
        for _ in range(convs):
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.ReLU(inplace=True)]
            c = width
        layers += [nn.ConvTranspose2d(c, width, 2, stride=2), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)
        self.out = nn.Conv2d(width, num_classes + (kind == "softmax"), 1)

    def forward(self, feats: Tensor) -> Tensor:
        return self.out(self.body(feats))

    def loss(self, logits: Tensor, labels: Tensor, targets: Tensor) -> Tensor:
        """``logits (R, K, m, m)`` of positive regions, their classes ``labels (R,)`` in
        ``1 .. C`` and binary ``targets (R, m, m)``. Sigmoid: binary cross-entropy on the
        region's own class channel only (classes do not compete); softmax: cross-entropy over
        background + classes at each pixel (target class where the mask is on, else 0)."""
        if len(logits) == 0:
            return logits.sum() * 0.0
        if self.kind == "sigmoid":
            own = logits[torch.arange(len(logits), device=logits.device), labels - 1]
            return F.binary_cross_entropy_with_logits(own, targets)
        pixel = (targets > 0.5).long() * labels[:, None, None]
        return F.cross_entropy(logits, pixel)

    def probabilities(self, logits: Tensor, labels: Tensor) -> Tensor:
        """``(R, m, m)`` probability that each pixel belongs to the region's class."""
        idx = torch.arange(len(logits), device=logits.device)
        if self.kind == "sigmoid":
            return logits[idx, labels - 1].sigmoid()
        return logits.softmax(1)[idx, labels]


class KeypointHead(nn.Module):
    """Mask R-CNN's keypoint head: RoI features ``(R, C, s, s)`` -> ``(R, K, 2s, 2s)`` logits,
    one heatmap per keypoint, the same architecture as :class:`MaskHead` (the paper: "minor
    modifications" of it). The loss is a cross-entropy over the ``m^2`` cells of each labelled
    keypoint's map, so each keypoint is one position, not a blob."""

    def __init__(self, in_channels: int, num_keypoints: int, width: int = 64,
                 convs: int = 4) -> None:  # fmt: skip
        super().__init__()
        self.num_keypoints = num_keypoints
        self.net = MaskHead(in_channels, num_keypoints, width, convs)

    def forward(self, feats: Tensor) -> Tensor:
        return self.net(feats)

    @staticmethod
    def loss(logits: Tensor, index: Tensor, valid: Tensor) -> Tensor:
        """``logits (R, K, m, m)``, targets ``index (R, K)`` and ``valid (R, K)``."""
        if not bool(valid.any()):
            return logits.sum() * 0.0
        flat = logits.flatten(2)[valid]  # (V, m * m)
        return F.cross_entropy(flat, index[valid])
