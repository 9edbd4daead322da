"""Every upsampler from the lecture, usable on its own, all doubling (by default) ``(N, C, H, W)``.

- :class:`NearestUnpool`: copy each value into its ``s x s`` block.
- :class:`BedOfNails`: put each value in the top-left corner of its block, zeros elsewhere.
- :class:`MaxUnpool`: put each value where the paired max-pool found its maximum (SegNet);
  needs the pool's ``indices``.
- :class:`TransposedConv`: learnable; each input pixel scatters ``value * kernel`` into the
  output and overlaps are summed. Kernel 3 / stride 2 overlaps unevenly (checkerboard
  artifacts); 4/2 and 2/2 divide evenly.
- :class:`BilinearConv`: bilinear resize then a 3x3 convolution ("resize-convolution").

All share ``forward(x, indices=None, output_size=None)`` so a decoder can swap them freely.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from regionlab.names import UPSAMPLERS

UpsamplerKind = Literal["nearest", "bed_of_nails", "max_unpool", "transposed", "bilinear"]


def _target(x: torch.Tensor, scale: int, output_size) -> tuple[int, int]:
    if output_size is not None:
        return int(output_size[-2]), int(output_size[-1])
    return x.shape[-2] * scale, x.shape[-1] * scale


class NearestUnpool(nn.Module):
    """``[[1, 2], [3, 4]] -> [[1,1,2,2],[1,1,2,2],[3,3,4,4],[3,3,4,4]]``. No parameters."""

    def __init__(self, scale: int = 2) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x, indices=None, output_size=None):
        return F.interpolate(x, size=_target(x, self.scale, output_size), mode="nearest")


class BedOfNails(nn.Module):
    """``[[1, 2], [3, 4]] -> [[1,0,2,0],[0,0,0,0],[3,0,4,0],[0,0,0,0]]``. No parameters."""

    def __init__(self, scale: int = 2) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x, indices=None, output_size=None):
        n, c, h, w = x.shape
        s = self.scale
        th, tw = _target(x, s, output_size)
        # Allocate the larger of s*size and the target: an odd pool input (2h + 1) gets a zero
        # last row/column, a smaller target is a crop.
        out = x.new_zeros((n, c, max(h * s, th), max(w * s, tw)))
        out[:, :, : h * s : s, : w * s : s] = x
        return out[:, :, :th, :tw]


class MaxUnpool(nn.Module):
    """Inverse of ``max_pool2d(..., return_indices=True)``: values go back to the argmax positions.

    ``indices`` (from the paired pool) and ``output_size`` (the pool's input size, which
    matters for odd sizes) must be given.
    """

    def __init__(self, scale: int = 2) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x, indices=None, output_size=None):
        if indices is None:
            raise ValueError(
                "MaxUnpool needs the indices of its paired max-pool "
                "(max_pool2d(..., return_indices=True))"
            )
        size = _target(x, self.scale, output_size)
        return F.max_unpool2d(x, indices, self.scale, self.scale, output_size=size)


class TransposedConv(nn.Module):
    """Learnable upsampling by ``stride`` with a ``kernel x kernel`` transposed convolution.

    Padding is chosen so the output is exactly ``stride`` times the input for kernel 2, 3, 4
    with stride 2 (3/2 uses ``output_padding=1``).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int = 4,
        stride: int = 2,
        bias: bool = True,
    ) -> None:
        super().__init__()
        if kernel < stride:
            raise ValueError(f"transposed conv kernel {kernel} < stride {stride} leaves holes")
        # out = (in - 1) * s - 2p + k + op == in * s  =>  2p - op = k - s
        pad = (kernel - stride + 1) // 2
        out_pad = 2 * pad - (kernel - stride)
        self.scale = stride
        self.conv = nn.ConvTranspose2d(
            in_channels, out_channels, kernel, stride, pad, out_pad, bias=bias
        )

    def forward(self, x, indices=None, output_size=None):
        y = self.conv(x)
        th, tw = _target(x, self.scale, output_size)
        if y.shape[-2:] != (th, tw):
            y = F.pad(y, (0, max(0, tw - y.shape[-1]), 0, max(0, th - y.shape[-2])))[..., :th, :tw]
        return y


class BilinearConv(nn.Module):
    """Bilinear resize by ``scale``, then a 3x3 convolution (resize-convolution)."""

    def __init__(self, in_channels: int, out_channels: int, scale: int = 2) -> None:
        super().__init__()
        self.scale = scale
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)

    def forward(self, x, indices=None, output_size=None):
        size = _target(x, self.scale, output_size)
        return self.conv(F.interpolate(x, size=size, mode="bilinear", align_corners=False))


def make_upsampler(
    kind: UpsamplerKind, in_channels: int, out_channels: int, *, scale: int = 2, kernel: int = 4
) -> nn.Module:
    """Build an upsampler that maps ``in_channels`` to ``out_channels`` while scaling by ``scale``.

    The parameter-free unpoolings keep the channel count; when ``in_channels != out_channels`` a
    1x1 convolution runs first, at the low resolution where it is cheap (and where max-unpooling
    needs the channel count of its paired pool).
    """
    if kind == "transposed":
        return TransposedConv(in_channels, out_channels, kernel, scale)
    if kind == "bilinear":
        return BilinearConv(in_channels, out_channels, scale)
    plain = {"nearest": NearestUnpool, "bed_of_nails": BedOfNails, "max_unpool": MaxUnpool}
    if kind not in plain:
        raise ValueError(f"unknown upsampler {kind!r}; choose one of {', '.join(UPSAMPLERS)}")
    up = plain[kind](scale)
    if in_channels == out_channels:
        return up
    return _ProjectThen(nn.Conv2d(in_channels, out_channels, 1), up)


class _ProjectThen(nn.Module):
    def __init__(self, proj: nn.Module, up: nn.Module) -> None:
        super().__init__()
        self.proj, self.up, self.scale = proj, up, up.scale

    def forward(self, x, indices=None, output_size=None):
        return self.up(self.proj(x), indices, output_size)
