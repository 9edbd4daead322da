"""Building blocks of the grid detector: a small CSP backbone and an FPN + PAN neck.

Every convolution is ``conv -> BatchNorm -> SiLU`` (:class:`ConvBNAct`). The cross-stage
partial block (:class:`CSPBlock`, Wang et al., CVPR-W 2020) sends only half of its channels
through a chain of residual bottlenecks and concatenates every intermediate result with the
untouched half before a ``1x1`` fusion: deep features and cheap ones side by side, at about
half the cost of running all channels through the chain.

Feature maps are ``(N, C, H, W)``; a stride-2 convolution with padding maps ``H`` to
``ceil(H / 2)``, so inputs need not be multiples of the largest stride.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from regionlab.models.backbones import EncoderOutput

# BatchNorm as in YOLOv5/v8: a slow running average (momentum 0.03) suits the few hundred
# optimizer steps of a short run from scratch, where batch statistics are noisy.
BN_EPS, BN_MOMENTUM = 1e-3, 0.03


class ConvBNAct(nn.Sequential):
    """``k x k`` convolution (no bias, "same" padding) -> BatchNorm -> SiLU."""

    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(
            nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout, eps=BN_EPS, momentum=BN_MOMENTUM),
            nn.SiLU(inplace=True),
        )


class Bottleneck(nn.Module):
    """Two ``3x3`` convolutions with a residual connection; ``c`` channels in and out."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(ConvBNAct(c, c, 3), ConvBNAct(c, c, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class CSPBlock(nn.Module):
    """Cross-stage partial block: ``1x1`` to ``2h`` channels (``h = cout // 2``), split in two
    halves, ``n`` bottlenecks chained on the second half, then ``1x1`` over the concatenation of
    both halves and every bottleneck output (``(2 + n) h`` channels) to ``cout``."""

    def __init__(self, cin: int, cout: int, n: int = 1) -> None:
        super().__init__()
        h = max(cout // 2, 1)
        self.split = ConvBNAct(cin, 2 * h, 1)
        self.blocks = nn.ModuleList(Bottleneck(h) for _ in range(n))
        self.fuse = ConvBNAct((2 + n) * h, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = list(self.split(x).chunk(2, dim=1))
        for block in self.blocks:
            parts.append(block(parts[-1]))
        return self.fuse(torch.cat(parts, dim=1))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast form: three chained ``k x k`` stride-1 max-pools (receptive
    fields ``k``, ``2k - 1``, ``3k - 2``) on a halved-channel map, concatenated and fused."""

    def __init__(self, c: int, k: int = 5) -> None:
        super().__init__()
        h = max(c // 2, 1)
        self.reduce = ConvBNAct(c, h, 1)
        self.pool = nn.MaxPool2d(k, 1, k // 2)
        self.fuse = ConvBNAct(4 * h, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.reduce(x)
        p1 = self.pool(x)
        p2 = self.pool(p1)
        return self.fuse(torch.cat((x, p1, p2, self.pool(p2)), dim=1))


class CSPBackbone(nn.Module):
    """A small CSP backbone: a stride-2 ``3x3`` stem to ``widths[0]`` channels, then one stage
    per further width, each a stride-2 ``3x3`` convolution and a :class:`CSPBlock` of
    ``depths[i]`` bottlenecks (``0``: the convolution only); :class:`SPPF` after the last.

    Stage ``i`` (stem = 0) has stride ``2 ** (i + 1)``: the default ``widths`` give features
    at strides ``2, 4, 8, 16, 32`` with ``channels = widths``. Returns an
    :class:`~regionlab.models.backbones.EncoderOutput` (finest first, no pool indices), like
    every encoder of :mod:`regionlab.models.backbones`.
    """

    def __init__(
        self, widths: Sequence[int] = (16, 32, 64, 128, 256), depths: Sequence[int] = (0, 1, 1, 1)
    ) -> None:
        super().__init__()
        widths, depths = tuple(widths), tuple(depths)
        if len(widths) < 2 or len(depths) != len(widths) - 1:
            raise ValueError(
                f"need widths for the stem and each stage and one depth per stage, got widths "
                f"{widths} and depths {depths}"
            )
        self.stem = ConvBNAct(3, widths[0], 3, 2)
        stages = []
        for i, (cin, cout) in enumerate(zip(widths, widths[1:])):
            layers = [ConvBNAct(cin, cout, 3, 2)]
            if depths[i] > 0:
                layers.append(CSPBlock(cout, cout, depths[i]))
            if i == len(depths) - 1:
                layers.append(SPPF(cout))
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)
        self.channels = widths
        self.strides = tuple(2 ** (i + 1) for i in range(len(widths)))

    def forward(self, x: torch.Tensor) -> EncoderOutput:
        x = self.stem(x)
        feats = [x]
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return EncoderOutput(feats, [None] * len(feats))


class PANNeck(nn.Module):
    """FPN top-down path then PAN bottom-up path (Liu et al., CVPR 2018) over ``L`` levels.

    ``in_channels[l]`` / ``out_channels[l]``: channels of level ``l`` (finest first). Top-down,
    from the coarsest: ``td_L = x_L`` and ``td_l = CSP(cat(up(td_{l+1}), x_l))``, so fine maps
    get the coarse maps' context. Bottom-up, from the finest: ``out_1 = td_1`` and ``out_l =
    CSP(cat(down(out_{l-1}), td_l))``, a short path from fine detail to the coarse maps.
    ``up`` is nearest-neighbour resizing to the finer map's size, ``down`` a stride-2 ``3x3``
    convolution. Returns ``L`` maps with ``out_channels``.
    """

    def __init__(
        self, in_channels: Sequence[int], out_channels: Sequence[int], depth: int = 1
    ) -> None:
        super().__init__()
        cin, cout = tuple(in_channels), tuple(out_channels)
        if len(cin) != len(cout) or not cin:
            raise ValueError(f"one in and out width per level, got {cin} and {cout}")
        n = len(cin)
        self.top = ConvBNAct(cin[-1], cout[-1], 1) if cin[-1] != cout[-1] else nn.Identity()
        # top_down[l] makes td_l from up(td_{l+1}) and x_l (l = 0 .. L-2).
        self.top_down = nn.ModuleList(
            CSPBlock(cout[i + 1] + cin[i], cout[i], depth) for i in range(n - 1)
        )
        # down[l] / bottom_up[l] make out_{l+1} from out_l and td_{l+1}.
        self.down = nn.ModuleList(ConvBNAct(cout[i], cout[i], 3, 2) for i in range(n - 1))
        self.bottom_up = nn.ModuleList(
            CSPBlock(cout[i] + cout[i + 1], cout[i + 1], depth) for i in range(n - 1)
        )
        self.channels = cout

    def forward(self, feats: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        if len(feats) != len(self.channels):
            raise ValueError(f"expected {len(self.channels)} feature maps, got {len(feats)}")
        td = [self.top(feats[-1])]
        for i in range(len(feats) - 2, -1, -1):
            up = F.interpolate(td[0], size=feats[i].shape[-2:], mode="nearest")
            td.insert(0, self.top_down[i](torch.cat((up, feats[i]), dim=1)))
        outs = [td[0]]
        for i in range(len(feats) - 1):
            down = self.down[i](outs[-1])
            if down.shape[-2:] != td[i + 1].shape[-2:]:
                down = F.interpolate(down, size=td[i + 1].shape[-2:], mode="nearest")
            outs.append(self.bottom_up[i](torch.cat((down, td[i + 1]), dim=1)))
        return outs

    def last_shared(self) -> torch.Tensor:
        """The weight of a last layer every task's loss depends on (for GradNorm): the fusion
        convolution of the finest output level."""
        block = self.top_down[0] if len(self.top_down) else None
        if block is None:
            return self.top[0].weight if isinstance(self.top, ConvBNAct) else None
        return block.fuse[0].weight
