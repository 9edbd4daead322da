"""Which old unit each new unit copies, and how that reshapes weights and optimizer state.

A *unit* is one output channel of a conv or one output feature of a Linear. Widening ``old``
units to ``new`` is described by a :class:`UnitMapping` (``source[j]``: the old unit new unit ``j``
copies); every tensor tied to those units is then rebuilt by an :class:`AxisRemap` (gather along
one axis, scale each gathered slice).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from regionlab.growth.errors import GrowthError

Mode = Literal["net2net", "morphism"]
MODES: tuple[str, ...] = ("net2net", "morphism")


@dataclass(frozen=True)
class UnitMapping:
    """How ``old`` units become ``new = len(source)`` units.

    - ``source``: long ``(new,)``; new unit ``j`` copies old unit ``source[j]``'s incoming weights.
    - ``fresh``: bool ``(new,)``; ``True`` for added units. Every old unit keeps exactly one
      non-fresh position (its original).
    - ``mode``: ``"net2net"``: consumers split an old unit's outgoing weight equally over all its
      copies; ``"morphism"``: added units get zero outgoing weight.
    - ``groups``: units form this many equal contiguous groups and every unit copies a unit of
      its own group, so grouped convolutions (which read only their group's channels) stay valid.

    Pass the same mapping to every producer whose outputs are tied (e.g. summed by a residual
    connection), so the sum's channels are copied identically.
    """

    source: Tensor
    fresh: Tensor
    old: int
    mode: Mode = "net2net"
    groups: int = 1

    @property
    def new(self) -> int:
        return int(self.source.numel())

    def counts(self) -> Tensor:
        """long ``(old,)``: how many new units copy each old unit (original included)."""
        return torch.bincount(self.source, minlength=self.old)

    def outgoing_scale(self) -> Tensor:
        """float64 ``(new,)``: factor on each new unit's outgoing (consumer) weights."""
        if self.mode == "morphism":
            return (~self.fresh).double()
        return 1.0 / self.counts()[self.source].double()

    def repeat_units(self, hw: int) -> UnitMapping:
        """Each unit becomes ``hw`` consecutive units, as when a ``(C, H, W)`` map is flattened:
        channel ``c`` -> features ``c*hw ... c*hw + hw - 1``."""
        if hw == 1:
            return self
        offsets = torch.arange(hw)
        source = (self.source[:, None] * hw + offsets).reshape(-1)
        return UnitMapping(
            source, self.fresh.repeat_interleave(hw), self.old * hw, self.mode, self.groups
        )


def make_mapping(
    old: int,
    new: int,
    *,
    mode: Mode = "net2net",
    groups: int = 1,
    generator: torch.Generator | None = None,
    name: str = "layer",
) -> UnitMapping:
    """A random :class:`UnitMapping` from ``old`` to ``new`` units (Net2WiderNet's choice).

    Group ``g`` keeps its originals first, at new positions ``g*new_g ... g*new_g + old_g - 1``
    (``old_g = old / groups``), followed by ``new_g - old_g`` copies of uniformly drawn units of
    the same group. With ``groups=1`` the originals keep their indices and copies are appended.
    """
    if mode not in MODES:
        raise GrowthError(f"{name}: mode must be one of {MODES}, got {mode!r}")
    if new < old:
        raise GrowthError(f"{name}: new width {new} is smaller than the current width {old}")
    if old % groups or new % groups:
        raise GrowthError(
            f"{name}: a width tied to a grouped convolution (groups={groups}) must grow in "
            f"multiples of {groups}, got {old} -> {new}"
        )
    old_g, new_g = old // groups, new // groups
    sources, fresh = [], []
    for g in range(groups):
        base = g * old_g
        extra = torch.randint(old_g, (new_g - old_g,), generator=generator) + base
        sources += [torch.arange(base, base + old_g), extra]
        fresh += [torch.zeros(old_g, dtype=torch.bool), torch.ones(new_g - old_g, dtype=torch.bool)]
    return UnitMapping(torch.cat(sources), torch.cat(fresh), old, mode, groups)


def _scaled(t: Tensor, factor: Tensor | None, axis: int) -> Tensor:
    if factor is None:
        return t
    shape = [1] * t.dim()
    shape[axis] = -1
    return t * factor.to(device=t.device, dtype=t.dtype).view(shape)


@dataclass(frozen=True)
class AxisRemap:
    """Rebuild a tensor along ``axis``: gather ``index`` (long ``(new,)``) and scale slice ``j``.

    - weights: ``t.index_select(axis, index) * scale[j]``;
    - optimizer first moments (momentum, Adam ``exp_avg``): ``* state_scale[j]``;
    - second moments (``exp_avg_sq``): ``* state_scale[j] ** 2`` (they hold squared gradients,
      and the gradient of a weight scaled by ``s`` is scaled by ``s`` too).

    ``groups > 1`` (only with ``axis=1``): the tensor is a grouped conv weight
    ``(out, in/groups, ...)``; ``index`` addresses the full input ``(in_new,)``, and the rows of
    group ``g`` gather from their own ``in/groups`` columns.
    """

    axis: int
    index: Tensor
    scale: Tensor | None = None
    state_scale: Tensor | None = None
    groups: int = 1

    def _gather(self, t: Tensor, factor: Tensor | None) -> Tensor:
        index = self.index.to(t.device)
        if self.groups == 1:
            return _scaled(t.index_select(self.axis, index), factor, self.axis)
        rows, old_g = t.shape[0] // self.groups, t.shape[1]
        new_g = index.numel() // self.groups
        parts = []
        for g in range(self.groups):
            cols = slice(g * new_g, (g + 1) * new_g)
            part = t[g * rows : (g + 1) * rows].index_select(1, index[cols] - g * old_g)
            parts.append(_scaled(part, None if factor is None else factor[cols], 1))
        return torch.cat(parts, 0)

    def weights(self, t: Tensor) -> Tensor:
        return self._gather(t, self.scale)

    def state(self, t: Tensor, power: int) -> Tensor:
        factor = None if self.state_scale is None else self.state_scale**power
        return self._gather(t, factor)

    def buffer(self, t: Tensor) -> Tensor:
        """Running statistics are copied, never scaled."""
        return self._gather(t, None)
