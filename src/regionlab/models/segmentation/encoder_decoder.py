"""Encoder-decoder FCN: downsample to see context cheaply, upsample back to pixels.

The encoder is the small built-in CNN or a torchvision classifier (see ``models.backbones``);
each decoder step doubles the resolution with any upsampler from ``ops.upsample`` and, with
``skips=True``, concatenates the encoder feature of the same stride (U-Net style) so fine
detail lost by pooling comes back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from regionlab.models.backbones import Normalize, conv_bn_relu
from regionlab.models.segmentation.output import SegmentationOutput, segmentation_loss
from regionlab.ops.dtype import loss_precision
from regionlab.ops.upsample import make_upsampler


class DecoderBlock(nn.Module):
    """Upsample ``x`` 2x, optionally concatenate ``skip``, then two conv-BN-ReLU.

    ``pool_channels``: channels of the max-pool this step undoes; max-unpooling must produce
    exactly those, the other upsamplers produce ``cout``.
    """

    def __init__(
        self,
        cin: int,
        cskip: int,
        cout: int,
        upsampler: str,
        kernel: int = 4,
        pool_channels: int | None = None,
    ) -> None:
        super().__init__()
        up_out = pool_channels if upsampler == "max_unpool" and pool_channels else cout
        self.up = make_upsampler(upsampler, cin, up_out, kernel=kernel)
        self.convs = nn.Sequential(conv_bn_relu(up_out + cskip, cout), conv_bn_relu(cout, cout))

    def forward(self, x, skip: torch.Tensor | None, size, indices=None):
        x = self.up(x, indices, output_size=size)
        if skip is not None:
            x = torch.cat([x, skip], 1)
        return self.convs(x)


class EncoderDecoder(nn.Module):
    """``forward(images (N,3,H,W) in [0,1], targets (N,H,W) | None) -> SegmentationOutput``.

    ``encoder`` must expose ``channels``/``strides`` and return ``EncoderOutput`` (features
    finest-first). ``upsampler="max_unpool"`` needs an encoder that max-pools at every stage
    (the small one). ``decoder_max`` caps decoder widths for wide torchvision encoders.
    """

    def __init__(
        self,
        encoder: nn.Module,
        num_classes: int,
        upsampler: str = "bilinear",
        skips: bool = True,
        kernel: int = 4,
        decoder_max: int = 128,
        class_weights: torch.Tensor | None = None,
        dice: float = 0.0,
    ) -> None:
        super().__init__()
        if upsampler == "max_unpool" and not hasattr(encoder, "stages"):
            raise ValueError(
                "max_unpool needs the indices of a max-pool at every encoder stage; "
                "use backbone 'small' or another upsampler"
            )
        self.normalize = Normalize()
        self.encoder = encoder
        self.skips = skips
        ch = list(encoder.channels)
        blocks, cin = [], ch[-1]
        for cskip in reversed(ch[:-1]):
            cout = max(16, min(cskip, decoder_max))
            # The small encoder pools the previous stage's output, so the pool holds cskip channels.
            blocks.append(DecoderBlock(cin, cskip if skips else 0, cout, upsampler, kernel, cskip))
            cin = cout
        self.decoder = nn.ModuleList(blocks)
        self.head = nn.Conv2d(cin, num_classes, 1)
        self.register_buffer("class_weights", class_weights, persistent=False)
        self.dice = dice

    def forward(
        self, images: torch.Tensor, targets: torch.Tensor | None = None
    ) -> SegmentationOutput:
        enc = self.encoder(self.normalize(images))
        feats, idx = enc.features, enc.indices
        x = feats[-1]
        for i, block in enumerate(self.decoder):
            level = len(feats) - 2 - i
            skip = feats[level] if self.skips else None
            x = block(x, skip, feats[level].shape[-2:], idx[level + 1])
        logits = loss_precision(self.head(x))
        if logits.shape[-2:] != images.shape[-2:]:
            logits = F.interpolate(
                logits, size=images.shape[-2:], mode="bilinear", align_corners=False
            )
        loss = (
            segmentation_loss(logits, targets, self.class_weights, self.dice)
            if targets is not None
            else None
        )
        return SegmentationOutput(logits, loss)
