"""Larger convolution kernels without changing the function: zero-pad the kernel, pad the input.

A ``k``-tap kernel zero-padded to ``K`` taps (``K - k`` even, half on each side) with the input
padding grown by ``dilation * (K - k) / 2`` keeps every original tap on the same input pixel
and output size, and the added taps multiply zeros or padding (any padding mode) by zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.conv import _ConvNd, _ConvTransposeNd
from torch.nn.utils import parametrize

from regionlab.growth import graph
from regionlab.growth.errors import GrowthError
from regionlab.growth.optim import ParamChange, remap_optimizer


@dataclass
class KernelRecord:
    layer: str
    old_kernel: tuple[int, ...]
    new_kernel: tuple[int, ...]
    param_changes: list[ParamChange] = field(default_factory=list)


def _reversed_padding(conv: _ConvNd) -> list[int]:
    # What ``_ConvNd.__init__`` computes; only used by non-"zeros" padding modes.
    if conv.padding == "same":
        out = []
        for d, k in zip(reversed(conv.dilation), reversed(conv.kernel_size)):
            total = d * (k - 1)
            out += [total // 2, total - total // 2]
        return out
    return [p for p in reversed(conv.padding) for _ in range(2)]


def widen_kernel(
    model: nn.Module,
    layer: str,
    new_kernel: int | tuple[int, ...],
    *,
    optimizer: torch.optim.Optimizer | None = None,
) -> KernelRecord:
    """Grow the kernel of conv ``layer`` (e.g. 3x3 -> 5x5), in place, keeping its output.

    ``new_kernel``: int (every spatial dim) or tuple; each must exceed the old size by an even
    number. Weight ``(out, in/groups, *k) -> (out, in/groups, *K)``; optimizer state is
    zero-padded the same way. Transposed convs raise :class:`GrowthError`.
    """
    conv = graph.get_module(model, layer)
    if not isinstance(conv, _ConvNd) or isinstance(conv, _ConvTransposeNd):
        raise GrowthError(
            f"cannot widen the kernel of {graph.describe(layer, conv)}: only Conv1d/2d/3d"
        )
    if parametrize.is_parametrized(conv):
        raise GrowthError(f"cannot widen the kernel of {graph.describe(layer, conv)}: parametrized")
    old = tuple(conv.kernel_size)
    new = (new_kernel,) * len(old) if isinstance(new_kernel, int) else tuple(new_kernel)
    if len(new) != len(old) or any(n < o or (n - o) % 2 for o, n in zip(old, new)):
        raise GrowthError(
            f"'{layer}': kernel {old} can only grow by an even number per dim (symmetric "
            f"zero-padding keeps the centre), got {new}"
        )
    extra = [(n - o) // 2 for o, n in zip(old, new)]
    spec = [e for e in reversed(extra) for _ in range(2)]  # F.pad: last dim first

    def remap(t: torch.Tensor, power: int = 1) -> torch.Tensor:
        return F.pad(t, spec)  # new taps start at zero weight and zero optimizer state

    old_weight = conv.weight
    with torch.no_grad():
        data = remap(old_weight.detach())
    conv.weight = nn.Parameter(data, requires_grad=old_weight.requires_grad)
    changes = [ParamChange(f"{layer}.weight", old_weight, conv.weight, remap)]
    conv.kernel_size = new
    if conv.padding == "valid":
        conv.padding = (0,) * len(old)
    if conv.padding != "same":
        conv.padding = tuple(p + d * e for p, d, e in zip(conv.padding, conv.dilation, extra))
    conv._reversed_padding_repeated_twice = _reversed_padding(conv)
    if optimizer is not None:
        remap_optimizer(optimizer, changes)
    return KernelRecord(layer, old, new, changes)
