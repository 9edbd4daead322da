"""Fully convolutional network at full resolution: no pooling, no stride.

The lecture's second idea: one forward pass labels every pixel, but every layer runs at
``H x W`` with many channels, which is why nobody stops here. Dilated convolutions grow the
receptive field without downsampling, so the model can still see whole objects.
"""

from __future__ import annotations

import torch
from torch import nn

from regionlab.models.backbones import Normalize, conv_bn_relu
from regionlab.models.segmentation.output import SegmentationOutput, segmentation_loss
from regionlab.ops.dtype import loss_precision


class FullResFCN(nn.Module):
    """``forward(images (N,3,H,W) in [0,1], targets (N,H,W) | None) -> SegmentationOutput``."""

    def __init__(
        self,
        num_classes: int,
        width: int = 32,
        dilations: tuple[int, ...] = (1, 1, 2, 4, 8, 1),
        class_weights: torch.Tensor | None = None,
        dice: float = 0.0,
    ) -> None:
        super().__init__()
        layers, cin = [], 3
        for d in dilations:
            layers.append(conv_bn_relu(cin, width, dilation=d))
            cin = width
        self.normalize = Normalize()
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(width, num_classes, 1)
        self.register_buffer("class_weights", class_weights, persistent=False)
        self.dice = dice

    def forward(
        self, images: torch.Tensor, targets: torch.Tensor | None = None
    ) -> SegmentationOutput:
        logits = loss_precision(self.head(self.body(self.normalize(images))))
        loss = (
            segmentation_loss(logits, targets, self.class_weights, self.dice)
            if targets is not None
            else None
        )
        return SegmentationOutput(logits, loss)
