"""Optimizer-state surgery: keep training after parameters were replaced by grown ones.

Growth replaces ``nn.Parameter`` objects (their shapes change), so an optimizer built before
holds stale parameters and state. :func:`remap_optimizer` swaps each old parameter for its new
one *at the same position* in ``param_groups`` (so ``state_dict`` indices, per-group learning
rates and weight decay are kept) and rebuilds its per-parameter state with the same index
mapping as the weights. :func:`add_params` registers parameters of newly inserted layers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

import torch
from torch import Tensor, nn

from regionlab.growth.errors import GrowthError

# State entries that accumulate squared gradients (Adam/AdamW/RMSprop/Adagrad/Adadelta): a
# gradient scaled by s scales them by s**2. Every other per-element entry (SGD
# ``momentum_buffer``, Adam ``exp_avg``, ...) is treated as a first moment.
SECOND_MOMENTS = frozenset({"exp_avg_sq", "max_exp_avg_sq", "square_avg", "sum", "acc_delta"})


class ParamChange(NamedTuple):
    """``old`` was replaced by ``new`` under dotted parameter name ``name``.

    ``remap(state_tensor, power) -> new_state_tensor`` maps a per-element optimizer state tensor
    of ``old``'s shape to ``new``'s shape (``power`` 1 for first moments, 2 for second moments).
    """

    name: str
    old: nn.Parameter
    new: nn.Parameter
    remap: Callable[[Tensor, int], Tensor]


def _remap_state(change: ParamChange, state: dict) -> dict:
    out = {}
    for key, value in state.items():
        if isinstance(value, Tensor) and value.dim() > 0:
            if value.shape != change.old.shape:
                raise GrowthError(
                    f"optimizer state '{key}' of parameter '{change.name}' has shape "
                    f"{tuple(value.shape)}, not the parameter's {tuple(change.old.shape)}; "
                    "cannot remap it"
                )
            value = change.remap(value, 2 if key in SECOND_MOMENTS else 1)
        elif isinstance(value, Tensor):
            value = value.clone()  # scalar entries such as Adam's ``step`` carry over
        out[key] = value
    return out


def remap_optimizer(optimizer: torch.optim.Optimizer, changes: Iterable[ParamChange]) -> None:
    """Replace each ``change.old`` by ``change.new`` in ``optimizer``, remapping its state.

    Parameters the optimizer does not hold (frozen ones) are ignored. New units of a widened
    layer get a copy of their source unit's state (Net2Net) or zero state (morphism); consumer
    weights divided by a replica count ``c`` get first moments divided by ``c`` and second
    moments by ``c**2``, so the next update is the one the original network would have made.
    """
    by_id = {id(c.old): c for c in changes}
    for group in optimizer.param_groups:
        for i, p in enumerate(group["params"]):
            change = by_id.get(id(p))
            if change is None:
                continue
            group["params"][i] = change.new
            state = optimizer.state.pop(p, None)
            if state:
                optimizer.state[change.new] = _remap_state(change, state)


def add_params(
    optimizer: torch.optim.Optimizer,
    params: Iterable[nn.Parameter],
    like: Iterable[nn.Parameter] = (),
) -> None:
    """Append new parameters to the param group of a ``like`` parameter with the same number of
    dimensions (so e.g. weight-decay groups split by ``ndim`` keep their rule), else to the group
    of the first ``like`` parameter, else to the first group. State starts empty (the optimizer
    initialises it lazily on the next step)."""
    group_of = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    like = [p for p in like if id(p) in group_of]
    for p in params:
        if not p.requires_grad or id(p) in group_of:
            continue
        same = [q for q in like if q.dim() == p.dim()]
        ref = same[0] if same else (like[0] if like else None)
        group = group_of[id(ref)] if ref is not None else optimizer.param_groups[0]
        group["params"].append(p)
        group_of[id(p)] = group
