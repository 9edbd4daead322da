"""Check that a grown model computes what the original did."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from regionlab.growth.errors import GrowthError


def _to_double(x):
    if isinstance(x, Tensor):
        return x.double() if x.is_floating_point() else x
    if isinstance(x, (list, tuple)):
        return type(x)(_to_double(v) for v in x)
    if isinstance(x, Mapping):
        return {k: _to_double(v) for k, v in x.items()}
    return x


def _tensors(out) -> list[Tensor]:
    """Every tensor of a model output: a tensor, a (nested) tuple/list/dict of them, a dataclass
    (its fields, in order) or any object (its attributes)."""
    if out is None:
        return []
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, (list, tuple)):
        return [t for v in out for t in _tensors(v)]
    if isinstance(out, Mapping):
        return [t for k in sorted(out) for t in _tensors(out[k])]
    if dataclasses.is_dataclass(out):
        return [t for f in dataclasses.fields(out) for t in _tensors(getattr(out, f.name))]
    if hasattr(out, "__dict__"):
        return [t for v in vars(out).values() for t in _tensors(v)]
    raise TypeError(f"verify: cannot compare outputs of type {type(out).__name__}")


def _run(model: nn.Module, inputs):
    m = copy.deepcopy(model).double().eval()
    inputs = _to_double(inputs)
    with torch.no_grad():
        if isinstance(inputs, Tensor):
            return _tensors(m(inputs))
        if isinstance(inputs, Mapping):
            return _tensors(m(**inputs))
        return _tensors(m(*inputs))


def _check_finite(outputs: list[Tensor], which: str) -> None:
    """Refuse NaN/inf: ``max`` skips NaN differences, so they would pass as "no change"."""
    for i, t in enumerate(outputs):
        if t.is_floating_point() or t.is_complex():
            bad = int((~torch.isfinite(t)).sum())
            if bad:
                raise GrowthError(
                    f"verify: the {which} model's output {i} {tuple(t.shape)} has {bad} non-finite "
                    "(NaN or inf) values in float64, so the models cannot be compared"
                )


def verify(before: nn.Module, after: nn.Module, inputs) -> dict[str, float]:
    """Largest output difference of ``after`` vs ``before`` on ``inputs``, in float64 eval mode.

    Both models are deep-copied (originals untouched). ``inputs``: a tensor, a tuple/list of
    positional arguments or a dict of keyword arguments; floating tensors are cast to float64.
    Returns ``{"max_abs": max |a - b|, "max_rel": max_abs / max |b|}`` over all output tensors
    (``max_rel`` relative to the largest reference magnitude, robust to outputs near zero).
    For a float64 model grown exactly, expect ``max_abs`` around 1e-15. Output tensors are
    numbered in the order they are found (dict keys sorted). Raises :class:`GrowthError` when
    either model outputs a NaN or inf, naming the model and the output tensor.
    """
    ref, new = _run(before, inputs), _run(after, inputs)
    _check_finite(ref, "original")
    _check_finite(new, "grown")
    if len(ref) != len(new):
        raise ValueError(f"verify: {len(ref)} output tensors before growth, {len(new)} after")
    max_abs, scale = 0.0, 0.0
    for a, b in zip(new, ref):
        if a.shape != b.shape:
            raise ValueError(f"verify: output shape {tuple(b.shape)} became {tuple(a.shape)}")
        if a.numel():
            max_abs = max(max_abs, float((a.double() - b.double()).abs().max()))
            scale = max(scale, float(b.double().abs().max()))
    return {"max_abs": max_abs, "max_rel": max_abs / scale if scale > 0 else max_abs}
