"""Who reads a widened layer's units: :class:`Consumer`, norms and consumers inferred from the
nested ``nn.Sequential`` chain after the layer, and the consumers' input-axis remap."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.modules.conv import _ConvTransposeNd
from torch.nn.utils import parametrize

from regionlab.growth import graph
from regionlab.growth.errors import GrowthError
from regionlab.growth.mapping import AxisRemap, UnitMapping


@dataclass(frozen=True)
class Consumer:
    """A module reading a widened layer's units as (part of) its input.

    ``offset``: index of the first of those units among the consumer's input channels (e.g.
    ``C_x`` for the skip of ``cat([x, skip], 1)``); ``hw``: features per channel when the map is
    flattened before a Linear (``H * W``), else 1. ``offset`` counts channels, before flattening.
    """

    name: str
    offset: int = 0
    hw: int = 1


def infer_readers(
    model: nn.Module, layer: str, old: int, want_consumers: bool, within: str | None = None
) -> tuple[list[str], list[Consumer]]:
    """Norms and consumers of ``layer``'s output, read off the nested Sequential chain after it.

    A Flatten before a Linear consumer needs no ``hw``: in a chain the Linear reads exactly the
    flattened map, so ``hw = in_features / old``.
    """
    chain, end = graph.chain_after(model, layer, within)
    norms: list[str] = []
    flattened = False
    for name, m in chain:
        if graph.is_norm(m):
            norms.append(name)
        elif graph.is_passthrough(m):
            continue
        elif isinstance(m, nn.Flatten) and m.start_dim == 1 and m.end_dim == -1:
            flattened = True
        elif graph.is_producer(m):
            if not want_consumers:
                return norms, []
            hw = graph.in_width(m) // old if flattened and isinstance(m, nn.Linear) else 1
            if graph.in_width(m) != old * hw:
                raise GrowthError(
                    f"cannot infer how {graph.describe(name, m)} reads the {old} units of "
                    f"'{layer}' ({graph.in_width(m)} inputs); pass consumers=[...] explicitly"
                )
            return norms, [Consumer(name, 0, hw)]
        elif not want_consumers:
            return norms, []
        else:
            raise GrowthError(
                f"cannot infer the consumers of '{layer}': {graph.describe(name, m)} follows it "
                "in its Sequential; pass consumers=[...] (and norms=[...]) explicitly"
            )
    if want_consumers:
        where = (
            "the model's output" if end is None else graph.describe(end, model.get_submodule(end))
        )
        raise GrowthError(
            f"cannot infer the consumers of '{layer}': its output leaves the nn.Sequential chain "
            f"into {where}; pass consumers=[...] (and norms=[...]) explicitly"
        )
    return norms, []


def find_readers(
    model: nn.Module,
    layer: str,
    old: int,
    consumers: list[str | Consumer] | None,
    norms: list[str] | None,
    consumer_offset: int,
    flatten_hw: int | tuple[int, ...] | None,
) -> tuple[list[str], list[Consumer]]:
    """The norms and consumers :func:`regionlab.growth.widen` changes: the given ones (plain
    names read at ``consumer_offset``, ``flatten_hw`` features per channel), else inferred."""
    if consumers is None:
        inferred_norms, found = infer_readers(model, layer, old, want_consumers=True)
    else:
        inferred_norms, _ = infer_readers(model, layer, old, want_consumers=False)
        hw = math.prod(flatten_hw) if isinstance(flatten_hw, tuple) else (flatten_hw or 1)
        found = [
            c if isinstance(c, Consumer) else Consumer(c, consumer_offset, hw) for c in consumers
        ]
    norms = inferred_norms if norms is None else list(norms)
    names = [layer, *norms, *(c.name for c in found)]
    if len(set(names)) != len(names):
        raise GrowthError(f"'{layer}': a module is listed twice among layer/norms/consumers")
    return norms, found


def reader_modules(
    model: nn.Module, layer: str, norms: list[str], found: list[Consumer]
) -> tuple[list[tuple[Consumer, nn.Module]], list[tuple[str, nn.Module]]]:
    """``(consumer, module)`` and ``(norm name, module)`` pairs, checked to be widenable."""
    consumer_mods = [(c, graph.get_module(model, c.name)) for c in found]
    for c, m in consumer_mods:
        if not graph.is_producer(m) or parametrize.is_parametrized(m):
            raise GrowthError(
                f"cannot widen the input of {graph.describe(c.name, m)}: consumers must be plain "
                "Linear or conv layers"
            )
    norm_mods = [(n, graph.get_module(model, n)) for n in norms]
    for n, m in norm_mods:
        if not graph.is_norm(m):
            raise GrowthError(
                f"cannot widen through {graph.describe(n, m)}: only per-channel norms "
                "(BatchNorm, InstanceNorm, PReLU) keep copied channels identical (GroupNorm and "
                "LayerNorm statistics mix channels)"
            )
    return consumer_mods, norm_mods


def consumer_remap(
    layer: str, c: Consumer, m: nn.Module, mapping: UnitMapping
) -> tuple[AxisRemap, int]:
    """Input-axis remap of consumer ``m`` and its new input width."""
    total = graph.in_width(m)
    units = mapping.repeat_units(c.hw)
    start, stop = c.offset * c.hw, c.offset * c.hw + units.old
    if c.offset < 0 or stop > total:
        raise GrowthError(
            f"{graph.describe(c.name, m)} has {total} inputs, so it cannot read the {mapping.old}"
            f" units of '{layer}' (x hw={c.hw}) at offset {c.offset}; check consumers/flatten_hw"
        )
    before, after = torch.arange(start), torch.arange(stop, total)
    index = torch.cat([before, units.source + start, after])
    scale = torch.cat(
        [torch.ones(start).double(), units.outgoing_scale(), torch.ones(total - stop).double()]
    )
    g = graph.groups(m)
    if g > 1:
        if isinstance(m, _ConvTransposeNd):
            raise GrowthError(f"cannot widen the input of grouped {graph.describe(c.name, m)}")
        # Group k of the consumer reads inputs [k*old_g, (k+1)*old_g): every new input of group
        # k must copy one of those, or the grouped conv would need channels it cannot see.
        old_g, new_g = total // g, index.numel() // g
        ok = index.numel() % g == 0 and all(
            bool(((index[k * new_g : (k + 1) * new_g] // old_g) == k).all()) for k in range(g)
        )
        if not ok:
            raise GrowthError(
                f"cannot widen '{layer}' into grouped {graph.describe(c.name, m)} (groups={g}): "
                "the copied channels would cross its groups; widen by a multiple of its groups "
                "with a mapping made for them (a shared mapping or a consumer offset can break this)"
            )
    return AxisRemap(graph.in_axis(m), index, scale, scale, groups=g), index.numel()
