"""Semantic segmentation by sliding window: classify a patch, label its centre pixel.

The lecture's first idea and its flaw: every pixel costs a full forward pass over its own
patch, and neighbouring patches share almost all their pixels, yet nothing is reused. Training
samples ``pixels_per_image`` random labelled pixels per image; inference classifies every pixel's
patch in batches of ``chunk`` patches.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from regionlab.data.sample import IGNORE_INDEX
from regionlab.models.backbones import Normalize, conv_bn_relu
from regionlab.models.segmentation.output import SegmentationOutput, segmentation_loss
from regionlab.ops.dtype import loss_precision


class PatchClassifier(nn.Module):
    """``forward(images (N,3,H,W) in [0,1], targets (N,H,W) | None) -> SegmentationOutput``.

    In training mode the loss is on sampled pixels and ``logits`` is ``None`` (a full map would
    cost ``H*W`` patch passes per image); in eval mode ``logits`` is the full ``(N,C,H,W)`` map.
    """

    def __init__(
        self,
        num_classes: int,
        patch: int = 25,
        width: int = 32,
        pixels_per_image: int = 256,
        chunk: int = 4096,
        class_weights: torch.Tensor | None = None,
        dice: float = 0.0,
    ) -> None:
        super().__init__()
        if patch % 2 == 0:
            raise ValueError(f"patch size must be odd so a patch has a centre pixel, got {patch}")
        self.patch, self.pixels_per_image, self.chunk = patch, pixels_per_image, chunk
        self.normalize = Normalize()
        self.net = nn.Sequential(
            conv_bn_relu(3, width),
            nn.MaxPool2d(2),
            conv_bn_relu(width, 2 * width),
            nn.MaxPool2d(2),
            conv_bn_relu(2 * width, 4 * width),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(4 * width, num_classes),
        )
        self.register_buffer("class_weights", class_weights, persistent=False)
        self.dice = dice

    def _pad(self, images: torch.Tensor) -> torch.Tensor:
        r = self.patch // 2
        return F.pad(self.normalize(images), (r, r, r, r))  # zero = mean colour after normalising

    def _sampled(self, images, targets):
        n, _, h, w = images.shape
        padded, p = self._pad(images), self.patch
        gen_b, gen_y, gen_x = [], [], []
        for b in range(n):
            ys, xs = torch.nonzero(targets[b] != IGNORE_INDEX, as_tuple=True)
            if len(ys) == 0:
                continue
            pick = torch.randint(len(ys), (self.pixels_per_image,), device=images.device)
            gen_b.append(torch.full_like(pick, b))
            gen_y.append(ys[pick])
            gen_x.append(xs[pick])
        if not gen_b:
            return (images.sum() * 0.0).requires_grad_()
        b, y, x = torch.cat(gen_b), torch.cat(gen_y), torch.cat(gen_x)
        ar = torch.arange(p, device=images.device)
        rows = (y[:, None] + ar)[:, :, None]  # (P, p, 1)
        cols = (x[:, None] + ar)[:, None, :]  # (P, 1, p)
        patches = padded[b[:, None, None], :, rows, cols].permute(0, 3, 1, 2)  # (P, C, p, p)
        logits = loss_precision(self.net(patches))
        return segmentation_loss(logits, targets[b, y, x], self.class_weights, self.dice)

    def dense_logits(self, images: torch.Tensor) -> torch.Tensor:
        """Classify every pixel's patch: ``(N, C, H, W)``."""
        n, c, h, w = images.shape
        padded, p = self._pad(images), self.patch
        rows_per_chunk = max(1, self.chunk // w)
        out = []
        for y0 in range(0, h, rows_per_chunk):
            y1 = min(h, y0 + rows_per_chunk)
            cols = F.unfold(padded[:, :, y0 : y1 + p - 1], p)  # (N, C*p*p, rows*W)
            patches = cols.transpose(1, 2).reshape(-1, c, p, p)
            out.append(self.net(patches).view(n, y1 - y0, w, -1))
        return loss_precision(torch.cat(out, 1).permute(0, 3, 1, 2))

    def forward(
        self, images: torch.Tensor, targets: torch.Tensor | None = None
    ) -> SegmentationOutput:
        if self.training:
            if targets is None:
                raise ValueError("PatchClassifier in training mode needs targets")
            return SegmentationOutput(None, self._sampled(images, targets))
        logits = self.dense_logits(images)
        loss = (
            segmentation_loss(logits, targets, self.class_weights, self.dice)
            if targets is not None
            else None
        )
        return SegmentationOutput(logits, loss)
