"""Deeper networks without changing the function: identity-initialised and residual inserts.

- ``kind="identity"`` (Net2DeeperNet): insert ``layer -> [BN] -> act`` with ``layer`` the identity
  (Dirac kernel / eye matrix, zero bias) and BN set to the identity in eval mode
  (``weight = sqrt(running_var + eps)``, ``bias = running_mean``). Exact only when ``act`` is
  idempotent (``act(act(x)) == act(x)``: ReLU, ReLU6/Hardtanh) and the output it receives has
  already passed the same ``act``, so ``act(x) == x`` there.
- ``kind="residual"``: insert ``x + f(x)`` with ``f = layer -> [BN] -> act -> layer'`` and
  ``layer'`` zero-initialised, so ``f(x) == 0``: exact for any activation (Tanh, GELU, ...).
  ``layer'`` still receives gradients (its input is non-zero), so ``f`` starts learning at once.

Not implemented: Network Morphism's parametric activations (``a*x + (1-a)*act(x)`` from ``a=1``),
the other route for non-idempotent activations.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from regionlab.growth import graph
from regionlab.growth.errors import GrowthError
from regionlab.growth.optim import add_params


class Residual(nn.Module):
    """``x + body(x)`` (shapes equal); starts as the identity when ``body`` ends in zeros."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@dataclass
class DeepenRecord:
    """``inserted``: dotted name of the new module (``after`` itself when it was a Sequential the
    new block was appended to, else ``after`` wrapped as ``Sequential(after, new)``)."""

    after: str
    inserted: str
    module: nn.Module
    params: list[nn.Parameter] = field(default_factory=list)


def _output_activation(m: nn.Module) -> nn.Module | None:
    if isinstance(m, graph.ACTIVATIONS):
        return m
    if isinstance(m, nn.Sequential):
        last = list(graph.leaves("", m))
        return last[-1][1] if last and isinstance(last[-1][1], graph.ACTIVATIONS) else None
    return None


def _width_source(
    model: nn.Module, after: str, target: nn.Module
) -> tuple[nn.Module, bool, list[nn.Module]]:
    """The Linear/conv whose units ``after`` outputs, whether a norm follows it, and the modules
    between (for parameter-group placement)."""
    if isinstance(target, nn.Sequential):
        items = list(reversed(list(graph.leaves(after, target))))
    else:
        items = [(after, target)]
    if not graph.is_producer(target):
        items += graph.chain_before(model, after)[0]
    has_norm, seen = False, []
    for _, m in items:
        seen.append(m)
        if graph.is_producer(m):
            return m, has_norm, seen
        if graph.is_norm(m):
            has_norm = True
        elif not graph.is_passthrough(m):
            break
    raise GrowthError(
        f"cannot tell the width of {graph.describe(after, target)}: no Linear/conv layer is "
        "visible before its output through nn.Sequential chains"
    )


def _identity_(layer: nn.Module) -> None:
    with torch.no_grad():
        if isinstance(layer, nn.Linear):
            nn.init.eye_(layer.weight)
        else:
            nn.init.dirac_(layer.weight)  # 1 at the kernel centre of channel i -> i
        if layer.bias is not None:
            layer.bias.zero_()


def _identity_norm_(bn: nn.modules.batchnorm._BatchNorm) -> None:
    # Eval mode: (x - mean) / sqrt(var + eps) * weight + bias == x.
    with torch.no_grad():
        bn.weight.copy_(torch.sqrt(bn.running_var + bn.eps))
        bn.bias.copy_(bn.running_mean)


def _make_layer(producer: nn.Module, width: int, kernel_size: int, bias: bool) -> nn.Module:
    if isinstance(producer, nn.Linear):
        return nn.Linear(width, width, bias=bias)
    conv = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[len(producer.kernel_size) - 1]
    return conv(width, width, kernel_size, padding=kernel_size // 2, bias=bias)


def _make_norm(producer: nn.Module, width: int) -> nn.Module:
    dims = 1 if isinstance(producer, nn.Linear) else len(producer.kernel_size)
    return (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)[dims - 1](width)


def _activation(activation: nn.Module | type[nn.Module] | None, found: nn.Module | None):
    if isinstance(activation, type):
        return activation()
    if activation is not None:
        return copy.deepcopy(activation)
    return copy.deepcopy(found) if found is not None else None


def _config(m: nn.Module) -> str:
    return re.sub(r",?\s*inplace=(True|False)", "", m.extra_repr())


def _same(a: nn.Module, b: nn.Module) -> bool:
    """Same activation: type and configuration (e.g. Hardtanh's range), ``inplace`` aside."""
    return type(a) is type(b) and _config(a) == _config(b)


def deepen(
    model: nn.Module,
    after: str,
    *,
    kind: Literal["identity", "residual"] = "identity",
    activation: nn.Module | type[nn.Module] | None = None,
    norm: bool | None = None,
    kernel_size: int = 3,
    optimizer: torch.optim.Optimizer | None = None,
) -> DeepenRecord:
    """Insert a new function-preserving layer on the output of module ``after``, in place.

    The new layer has ``C -> C`` units, ``C`` read off the last Linear/conv before ``after``'s
    output (a Linear, or a conv of the same dimensionality with ``kernel_size`` and "same"
    padding); ``activation`` defaults to a copy of the one ending ``after`` (ReLU for a residual
    insert when none is found); ``norm`` (a BatchNorm after the new layer) defaults to whether
    ``after``'s own layer is followed by one.

    ``kind="identity"`` needs ``after``'s output to have passed the same idempotent activation;
    when ``after`` is a layer followed in its Sequential by norms and that activation, the insert
    moves behind the activation. BN inserts are the identity in eval mode only: in training mode
    they normalise by batch statistics like any BN (``norm=False`` avoids that).

    Where: a Sequential ``after`` gets the block appended (existing names keep their meaning,
    e.g. a ``SmallEncoder`` stage gets a third conv-BN-ReLU); any other module is replaced by
    ``Sequential(after, block)`` (its parameters move under ``after.0``). ``optimizer``: the new
    parameters join the param groups of their neighbours (same ``ndim``).
    """
    if kind not in ("identity", "residual"):
        raise GrowthError(f"deepen: kind must be 'identity' or 'residual', got {kind!r}")
    if kernel_size % 2 == 0:
        raise GrowthError(f"deepen: kernel_size must be odd to keep the size, got {kernel_size}")
    target = graph.get_module(model, after)
    point, found = _insert_point(model, after, target, kind)
    act = _checked_activation(after, target, kind, activation, found)
    producer, has_norm, seen = _width_source(model, after, target)
    block = _build_block(producer, kind, has_norm if norm is None else norm, kernel_size, act)
    inserted = _insert(model, point, block)
    params = list(block.parameters())
    if optimizer is not None:
        like = [p for m in seen for p in m.parameters()]
        add_params(optimizer, params, like)
    return DeepenRecord(after, inserted, block, params)


def _insert_point(
    model: nn.Module, after: str, target: nn.Module, kind: str
) -> tuple[str, nn.Module | None]:
    """Where the block goes and the activation ending the output there (``None`` if none).

    An identity insert after a layer followed by norms and an activation moves behind the
    activation."""
    point, found = after, _output_activation(target)
    if kind == "identity" and found is None and not isinstance(target, nn.Sequential):
        for name, m in graph.chain_after(model, after)[0]:
            if not graph.is_norm(m):
                if isinstance(m, graph.ACTIVATIONS):
                    point, found = name, m
                break
    return point, found


def _checked_activation(
    after: str,
    target: nn.Module,
    kind: str,
    activation: nn.Module | type[nn.Module] | None,
    found: nn.Module | None,
) -> nn.Module:
    """The new block's activation; for an identity insert, refused unless it is idempotent and
    the output has already passed it (else ``act(identity(x)) != x``)."""
    act = _activation(activation, found)
    if kind == "identity":
        if act is not None and not isinstance(act, graph.IDEMPOTENT):
            raise GrowthError(
                f"deepen('{after}', kind='identity'): {type(act).__name__} is not idempotent "
                f"(act(act(x)) != act(x)), so an identity layer followed by it changes the "
                "function; use kind='residual' (x + f(x) with f's last layer zero)"
            )
        linear = isinstance(act, nn.Identity)
        if act is None or not (linear or (found is not None and _same(act, found))):
            raise GrowthError(
                f"deepen('{after}', kind='identity'): the output of {graph.describe(after, target)}"
                f" has not passed {'an idempotent activation' if act is None else repr(act)}, "
                "so act(identity(x)) != x; name the block or activation that ends with it, or "
                "use kind='residual'"
            )
    return act if act is not None else nn.ReLU()


def _build_block(
    producer: nn.Module, kind: str, norm: bool, kernel_size: int, act: nn.Module
) -> nn.Module:
    """``layer -> [BN] -> act`` initialised to the identity, or ``x + f(x)`` with ``f``'s last
    layer zero; on ``producer``'s device and dtype, ``C -> C`` with ``C`` its output width."""
    width = graph.out_width(producer)
    first = _make_layer(producer, width, kernel_size, bias=not norm)
    layers = [first] + ([_make_norm(producer, width)] if norm else []) + [act]
    last = _make_layer(producer, width, kernel_size, bias=True) if kind == "residual" else None
    block = nn.Sequential(*layers) if last is None else Residual(nn.Sequential(*layers, last))
    ref = next(producer.parameters(), None)
    if ref is not None:
        # Before initialising: sqrt(var + eps) rounded in float32 would not cancel in float64.
        block.to(device=ref.device, dtype=ref.dtype)
    if last is None:
        _identity_(first)
        if norm:
            _identity_norm_(layers[1])
    else:
        with torch.no_grad():
            last.weight.zero_()
            last.bias.zero_()
    return block


def _insert(model: nn.Module, point: str, block: nn.Module) -> str:
    """Append ``block`` to the Sequential at ``point``, or replace the module there by
    ``Sequential(module, block)``; returns the block's dotted name."""
    host = graph.get_module(model, point)
    block.train(host.training)
    if isinstance(host, nn.Sequential):
        host.append(block)
        return f"{point}.{len(host) - 1}" if point else str(len(host) - 1)
    if not point:
        raise GrowthError("deepen: cannot wrap the model itself; name a submodule")
    graph.set_module(model, point, nn.Sequential(host, block))
    return f"{point}.1"
