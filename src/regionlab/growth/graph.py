"""Finding modules by dotted name and reading the data flow that ``nn.Sequential`` makes explicit.

PyTorch keeps no graph of which module feeds which; only ``nn.Sequential`` nesting states it.
:func:`chain_after` / :func:`chain_before` walk that nesting (descending into nested Sequentials,
climbing out of finished ones) and stop at the first container whose ``forward`` is opaque
(a ``ModuleList``, a residual block, ...). Everything else must be named by the caller.
"""

from __future__ import annotations

from collections.abc import Iterator

from torch import nn
from torch.nn.modules.batchnorm import _NormBase
from torch.nn.modules.conv import _ConvNd, _ConvTransposeNd

from regionlab.growth.errors import GrowthError

# Elementwise activations: a widened channel passes through unchanged.
ACTIVATIONS: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Tanh,
    nn.Sigmoid,
    nn.Hardtanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Softplus,
)
# Parameter-free modules that act on each channel on its own.
PASSTHROUGH: tuple[type[nn.Module], ...] = (
    *ACTIVATIONS,
    nn.Identity,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
)
# act(act(x)) == act(x): an identity layer followed by act maps act's outputs to themselves.
IDEMPOTENT: tuple[type[nn.Module], ...] = (nn.ReLU, nn.Hardtanh, nn.Identity)  # ReLU6 is a Hardtanh


def describe(name: str, module: nn.Module) -> str:
    return f"'{name}' ({type(module).__name__})" if name else f"the model ({type(module).__name__})"


def get_module(model: nn.Module, name: str) -> nn.Module:
    try:
        return model.get_submodule(name)
    except AttributeError as e:
        raise GrowthError(f"no module named '{name}' in {type(model).__name__}") from e


def set_module(model: nn.Module, name: str, module: nn.Module) -> None:
    """Replace the submodule at dotted ``name`` (works for attributes and Sequential/List items)."""
    parent_name, _, attr = name.rpartition(".")
    setattr(get_module(model, parent_name), attr, module)


def is_producer(m: nn.Module) -> bool:
    """Layers whose output units can be widened / read as inputs: Linear and (transposed) convs."""
    return isinstance(m, (nn.Linear, _ConvNd))


def is_norm(m: nn.Module) -> bool:
    """Per-channel modules with per-channel parameters (BatchNorm, InstanceNorm, PReLU)."""
    return isinstance(m, _NormBase) or (isinstance(m, nn.PReLU) and m.num_parameters > 1)


def is_passthrough(m: nn.Module) -> bool:
    return isinstance(m, PASSTHROUGH) or (isinstance(m, nn.PReLU) and m.num_parameters == 1)


def out_width(m: nn.Module) -> int:
    return m.out_features if isinstance(m, nn.Linear) else m.out_channels


def in_width(m: nn.Module) -> int:
    return m.in_features if isinstance(m, nn.Linear) else m.in_channels


def out_axis(m: nn.Module) -> int:
    """Weight axis of the output units: Linear/conv ``(out, in, ...)``, transposed ``(in, out, ...)``."""
    return 1 if isinstance(m, _ConvTransposeNd) else 0


def in_axis(m: nn.Module) -> int:
    return 0 if isinstance(m, _ConvTransposeNd) else 1


def groups(m: nn.Module) -> int:
    return getattr(m, "groups", 1)


def leaves(name: str, module: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """``module`` flattened through nested Sequentials, in execution order; other modules are
    yielded whole (their forward is opaque)."""
    if isinstance(module, nn.Sequential):
        for key, child in module._modules.items():
            yield from leaves(f"{name}.{key}" if name else key, child)
    else:
        yield name, module


def _walk(
    model: nn.Module, name: str, within: str | None, backwards: bool
) -> tuple[list[tuple[str, nn.Module]], str | None]:
    if not name:
        return [], None  # the model itself: nothing around it is visible
    parts = name.split(".")
    found: list[tuple[str, nn.Module]] = []
    while parts and ".".join(parts) != within:
        parent_name = ".".join(parts[:-1])
        parent = get_module(model, parent_name)
        if not isinstance(parent, nn.Sequential):
            return found, parent_name
        keys = list(parent._modules)
        i = keys.index(parts[-1])
        siblings = reversed(keys[:i]) if backwards else keys[i + 1 :]
        for key in siblings:
            items = list(
                leaves(f"{parent_name}.{key}" if parent_name else key, parent._modules[key])
            )
            found.extend(reversed(items) if backwards else items)
        parts = parts[:-1]
    return found, (within if parts else None)


def chain_after(
    model: nn.Module, name: str, within: str | None = None
) -> tuple[list[tuple[str, nn.Module]], str | None]:
    """The leaves that run after module ``name`` on its output, in order, as far as nested
    Sequentials show it, and the name of the container where the visible chain ends: the first
    non-Sequential parent (``""``: the model), ``within`` if reached first, or ``None`` when the
    model is a Sequential chain that ends (``name`` feeds the model output)."""
    return _walk(model, name, within, backwards=False)


def chain_before(model: nn.Module, name: str) -> tuple[list[tuple[str, nn.Module]], str | None]:
    """Like :func:`chain_after` but the leaves that ran before ``name``, nearest first."""
    return _walk(model, name, None, backwards=True)
