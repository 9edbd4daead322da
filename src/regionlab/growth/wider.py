"""Wider layers without changing the function: Net2WiderNet and Network Morphism.

Widening layer ``L`` from ``C`` to ``C'`` output units touches everything tied to those units:

- ``L`` itself: weight rows (``(out, in, ...)``; axis 1 for transposed convs) and bias;
- *norms* between ``L`` and its readers (BatchNorm/InstanceNorm/PReLU): per-channel parameters
  and running statistics, copied with the same mapping;
- *consumers* (the next Linear/conv): their input columns. A consumer may read ``L``'s units
  at an ``offset`` (``cat([x, skip])``) or flattened, each channel as ``hw`` features.

Net2WiderNet (Chen et al., 2016): a new unit copies a random old unit's incoming weights; every
consumer weight reading a copied unit is divided by that unit's copy count, so the sum over the
copies equals the original contribution. Network Morphism (Wei et al., 2016): new units get
(copied) incoming weights but zero outgoing weights. Both are exact; ``noise`` trades exactness
for symmetry breaking (see :func:`widen`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.modules.conv import _ConvTransposeNd
from torch.nn.utils import parametrize

from regionlab.growth import graph
from regionlab.growth.errors import GrowthError
from regionlab.growth.mapping import AxisRemap, Mode, UnitMapping, make_mapping
from regionlab.growth.optim import ParamChange, remap_optimizer
from regionlab.growth.readers import (
    Consumer,
    consumer_remap,
    find_readers,
    infer_readers,
    reader_modules,
)


@dataclass
class GrowthRecord:
    """What one growth call changed. ``mapping`` can be passed to the next :func:`widen` of a
    producer tied to this one; ``param_changes`` feed :func:`remap_optimizer`."""

    layer: str
    old_width: int
    new_width: int
    mapping: UnitMapping
    norms: list[str] = field(default_factory=list)
    consumers: list[Consumer] = field(default_factory=list)
    param_changes: list[ParamChange] = field(default_factory=list)


def _check_widenable(name: str, m: nn.Module) -> None:
    if not graph.is_producer(m):
        raise GrowthError(
            f"cannot widen {graph.describe(name, m)}: only Linear and Conv1d/2d/3d (and "
            "ConvTranspose with groups=1) layers can be widened"
        )
    if isinstance(m, _ConvTransposeNd) and m.groups != 1:
        raise GrowthError(f"cannot widen {graph.describe(name, m)}: grouped transposed conv")
    if parametrize.is_parametrized(m):
        raise GrowthError(f"cannot widen {graph.describe(name, m)}: it has parametrizations")


def _replace_param(
    module: nn.Module,
    prefix: str,
    attr: str,
    remap: AxisRemap,
    changes: list[ParamChange],
    tweak=None,
) -> None:
    old = getattr(module, attr)
    if old is None:
        return
    with torch.no_grad():
        data = remap.weights(old.detach())
        if tweak is not None:
            data = tweak(data)
        if old.dim() == 4 and old.is_contiguous(memory_format=torch.channels_last):
            data = data.contiguous(memory_format=torch.channels_last)  # keep the trainer's layout
    new = nn.Parameter(data, requires_grad=old.requires_grad)
    setattr(module, attr, new)
    changes.append(ParamChange(f"{prefix}.{attr}", old, new, remap.state))


def _noise_fn(mapping: UnitMapping, axis: int, noise: float, generator):
    """Relative Gaussian noise on the added units' incoming weights: std = noise * std(W)."""
    if noise <= 0:
        return None

    def tweak(w: torch.Tensor) -> torch.Tensor:
        eps = torch.randn(w.shape, generator=generator, dtype=w.dtype).to(w.device)
        shape = [1] * w.dim()
        shape[axis] = -1
        mask = mapping.fresh.to(device=w.device, dtype=w.dtype).view(shape)
        return w + noise * w.std() * eps * mask

    return tweak


def widen(
    model: nn.Module,
    layer: str,
    new_width: int,
    *,
    mode: Mode | None = None,
    consumers: list[str | Consumer] | None = None,
    norms: list[str] | None = None,
    consumer_offset: int = 0,
    flatten_hw: int | tuple[int, ...] | None = None,
    mapping: UnitMapping | None = None,
    noise: float = 0.0,
    generator: torch.Generator | None = None,
    optimizer: torch.optim.Optimizer | None = None,
) -> GrowthRecord:
    """Widen the output units of ``layer`` (dotted name in ``model``) to ``new_width``, in place.

    - ``mode``: ``"net2net"`` (default) or ``"morphism"`` (see module docstring); taken from
      ``mapping`` when one is given.
    - ``consumers``: modules reading ``layer``'s output (names or :class:`Consumer`); plain names
      read it at ``consumer_offset`` (channels of a ``cat``), flattened ``flatten_hw`` (``H*W`` or
      ``(H, W)``) features per channel. ``None``: inferred from the nested ``nn.Sequential`` chain
      after ``layer`` (e.g. conv -> BN -> ReLU -> [Flatten] -> conv/Linear, also across
      ``conv_bn_relu`` blocks of a stage); raises :class:`GrowthError` where the chain is not
      visible (ModuleList, residual blocks, concatenations).
    - ``norms``: per-channel modules on the way (BatchNorm, InstanceNorm, PReLU); ``None``: those
      directly after ``layer`` in its Sequential chain.
    - ``mapping``: reuse the mapping of a tied producer (e.g. ``record.mapping`` of the other
      branch writing into the same residual sum) so the tied channels are copied identically;
      list each consumer of the sum in exactly one of the calls.
    - ``noise``: relative Gaussian noise (``std = noise * std(W)``) on the added units' incoming
      weights. Exact copies receive identical gradients (up to the split factor) and would stay
      copies forever; noise breaks that symmetry. It makes Net2Net only approximately
      function-preserving; with ``mode="morphism"`` it is free (added units' outputs are
      multiplied by zero weights).
    - ``optimizer``: its parameters and state (SGD momentum, Adam/AdamW moments) are remapped.

    Grouped convolutions: new units copy units of their own group, so a grouped producer or
    consumer stays valid; ``new_width`` must then be a multiple of the groups. A depthwise conv
    widened alone becomes a channel-multiplier conv (still exact).

    Returns a :class:`GrowthRecord`.
    """
    producer = graph.get_module(model, layer)
    _check_widenable(layer, producer)
    old = graph.out_width(producer)
    norms, found = find_readers(model, layer, old, consumers, norms, consumer_offset, flatten_hw)
    consumer_mods, norm_mods = reader_modules(model, layer, norms, found)
    mapping = _resolve_mapping(
        layer, producer, new_width, mode, mapping, [m for _, m in consumer_mods], generator
    )
    # Every check is done before the first change: a refused call leaves the model untouched.
    consumer_remaps = [(c, m, *consumer_remap(layer, c, m, mapping)) for c, m in consumer_mods]

    changes: list[ParamChange] = []
    per_channel = _widen_producer(producer, layer, mapping, noise, generator, changes)
    _widen_norms(norm_mods, per_channel, new_width, changes)
    # Outgoing weights: columns copied, divided by the copy count (or zeroed for morphism).
    for c, m, remap, width in consumer_remaps:
        _replace_param(m, c.name, "weight", remap, changes)
        if isinstance(m, nn.Linear):
            m.in_features = width
        else:
            m.in_channels = width

    if optimizer is not None:
        remap_optimizer(optimizer, changes)
    return GrowthRecord(layer, old, new_width, mapping, norms, found, changes)


def _resolve_mapping(
    layer: str,
    producer: nn.Module,
    new_width: int,
    mode: Mode | None,
    mapping: UnitMapping | None,
    readers: list[nn.Module],
    generator: torch.Generator | None,
) -> UnitMapping:
    """A new mapping for ``producer`` (copies inside its groups and every grouped reader's), or
    the given one, checked against the layer's widths, ``mode`` and groups."""
    old = graph.out_width(producer)
    if mapping is None:
        # Copies must stay inside the groups of the producer and of every grouped reader.
        groups = math.lcm(graph.groups(producer), *(graph.groups(m) for m in readers))
        mapping = make_mapping(
            old,
            new_width,
            mode=mode or "net2net",
            groups=groups,
            generator=generator,
            name=graph.describe(layer, producer),
        )
    elif mapping.old != old or mapping.new != new_width:
        raise GrowthError(
            f"'{layer}': the given mapping is {mapping.old} -> {mapping.new} units, but the layer "
            f"has {old} and should get {new_width}"
        )
    elif mode is not None and mode != mapping.mode:
        raise GrowthError(f"'{layer}': mode={mode!r} but the given mapping is {mapping.mode!r}")
    if graph.groups(producer) > 1 and mapping.groups % graph.groups(producer):
        raise GrowthError(
            f"'{layer}' is a grouped conv (groups={graph.groups(producer)}); the given mapping "
            f"has groups={mapping.groups} and would copy channels across its groups"
        )
    return mapping


def _widen_producer(
    producer: nn.Module,
    layer: str,
    mapping: UnitMapping,
    noise: float,
    generator: torch.Generator | None,
    changes: list[ParamChange],
) -> AxisRemap:
    """Copy ``producer``'s incoming weight rows and bias; returns the per-channel remap (axis 0)
    its norms share. Morphism's added units start with zero optimizer state."""
    state_scale = (~mapping.fresh).double() if mapping.mode == "morphism" else None
    rows = AxisRemap(graph.out_axis(producer), mapping.source, None, state_scale)
    per_channel = AxisRemap(0, mapping.source, None, state_scale)
    noisy = _noise_fn(mapping, graph.out_axis(producer), noise, generator)
    _replace_param(producer, layer, "weight", rows, changes, noisy)
    _replace_param(producer, layer, "bias", per_channel, changes)
    if isinstance(producer, nn.Linear):
        producer.out_features = mapping.new
    else:
        producer.out_channels = mapping.new
    return per_channel


def _widen_norms(
    norm_mods: list[tuple[str, nn.Module]],
    per_channel: AxisRemap,
    new_width: int,
    changes: list[ParamChange],
) -> None:
    """Per-channel parameters and running statistics copied like the producer's units."""
    for n, m in norm_mods:
        if isinstance(m, nn.PReLU):
            _replace_param(m, n, "weight", per_channel, changes)
            m.num_parameters = new_width
            continue
        _replace_param(m, n, "weight", per_channel, changes)
        _replace_param(m, n, "bias", per_channel, changes)
        for buf in ("running_mean", "running_var"):
            if getattr(m, buf, None) is not None:
                setattr(m, buf, per_channel.buffer(getattr(m, buf)))
        m.num_features = new_width


def widen_block(model: nn.Module, block: str, factor: float = 2.0, **kwargs) -> list[GrowthRecord]:
    """Widen every *hidden* width of container ``block`` by ``factor``, keeping its interface.

    A layer inside ``block`` is widened when the nested-Sequential chain after it reaches a
    consumer before leaving ``block`` (for a ``SmallEncoder`` stage or a ``DecoderBlock``: the
    first conv-BN-ReLU; the insides of residual blocks are not visible, see :func:`widen`). The
    block's output width (read by modules outside it) is left alone. ``kwargs`` go to
    :func:`widen` (``mode``, ``noise``, ``generator``, ``optimizer``). This is what a schedule
    entry ``wider(encoder.stages.1, 2x)`` means.
    """
    container = graph.get_module(model, block)
    records = []
    for name, m in list(container.named_modules(prefix=block)):
        if not graph.is_producer(m):
            continue
        old = graph.out_width(m)
        try:
            norms, found = infer_readers(model, name, old, want_consumers=True, within=block)
        except GrowthError:
            continue  # its output leaves the block (or is not visible): part of the interface
        g = math.lcm(graph.groups(m), graph.groups(graph.get_module(model, found[0].name)))
        new = math.ceil(old * factor / g) * g  # grouped layers grow by whole groups
        if new <= old:
            raise GrowthError(f"widen_block('{block}'): factor {factor} does not grow '{name}'")
        records.append(widen(model, name, new, consumers=found, norms=norms, **kwargs))
    if not records:
        raise GrowthError(
            f"{graph.describe(block, container)} has no hidden width that a nested Sequential "
            "chain shows; widen its layers with explicit consumers=[...]"
        )
    return records
