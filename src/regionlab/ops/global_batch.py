"""Losses over the global batch of a data-parallel run.

Under DDP each of ``W`` processes computes its loss on its slice of the global batch, and the
gradients are averaged over the processes. A loss that is a mean of per-image terms is then
already the single-process loss of the global batch (equal slices). A loss normalised by a
count that varies from slice to slice (positives, visible points, words, sampled regions), or
built from sums over the batch (Dice) or from pairs across images (a ranking loss), is not:
without help, ``W`` processes train on the same expected gradient as one, not the same numbers.

The helpers make each process's loss such that the average of the ``W`` gradients is exactly
the gradient of the single-process loss over the global batch. They act only inside
:func:`global_batch`, which the training engine enters around a step of a run with several
processes: evaluation shards batches unevenly over the processes and must never wait on a
collective, and a model used alone never meets one.

Every process must call the helpers in the same order, so a loss calls them before any branch
on its own slice (``if no positives: ...``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = [
    "global_batch",
    "processes",
    "global_count",
    "global_sums",
    "global_loss",
    "gather",
    "pad_dim",
]

_WORLD = [1]


@contextmanager
def global_batch(world: int) -> Iterator[None]:
    """Within it, the helpers reduce over the ``world`` processes of the default group."""
    before = _WORLD[0]
    _WORLD[0] = int(world)
    try:
        yield
    finally:
        _WORLD[0] = before


def processes() -> int:
    """How many processes the current loss is shared by (``1`` outside :func:`global_batch`)."""
    return _WORLD[0] if dist.is_available() and dist.is_initialized() else 1


def _device() -> torch.device:
    """Where the default group's collectives take tensors (NCCL: the current GPU)."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _sum(x: Tensor) -> Tensor:
    total = x.detach().to(_device(), copy=True)
    dist.all_reduce(total)
    return total.to(x.device)


def global_count(count: Tensor | float, minimum: float = 1.0) -> Tensor:
    """The normaliser of a mean over the global batch, as one process's share: ``max(sum over
    processes of count, minimum) / W``. A slice's ``sum(terms) / global_count(n)``, averaged
    over the processes, is ``sum(all terms) / max(all n, minimum)``; alone it is
    ``sum(terms) / max(n, minimum)``. ``count``: a number or a scalar tensor (no gradient)."""
    n = torch.as_tensor(count).detach().double()
    w = processes()
    if w == 1:
        return n.clamp(min=minimum).float()
    return (_sum(n.reshape(1))[0].clamp(min=minimum) / w).float()


def global_sums(*sums: Tensor) -> tuple[Tensor, ...]:
    """Sums over this slice with the value of the sums over the global batch; the gradient
    flows through this slice's part only. A loss built from them goes through
    :func:`global_loss`."""
    if processes() == 1:
        return sums
    return tuple(s + (_sum(s) - s.detach()) for s in sums)


def global_loss(loss: Tensor) -> Tensor:
    """``loss`` (built from :func:`global_sums`) with its gradient multiplied by ``W`` and its
    value unchanged: DDP divides the sum of the processes' gradients by ``W``."""
    w = processes()
    return loss if w == 1 else loss * w - loss.detach() * (w - 1)


def gather(x: Tensor) -> Tensor:
    """``x (N_r, ...)`` of every process concatenated along dim 0 in rank order (the other
    dims equal on every process: :func:`pad_dim` first). The gradient flows to this process's
    rows only, the others are constants here, so a loss built from gathered tensors goes
    through :func:`global_loss`. Alone: ``x``."""
    if processes() == 1:
        return x
    w, rank = dist.get_world_size(), dist.get_rank()
    rows = torch.tensor([len(x)], dtype=torch.int64, device=_device())
    counts = [torch.zeros_like(rows) for _ in range(w)]
    dist.all_gather(counts, rows)
    counts = [int(c) for c in counts]
    flag = x.dtype == torch.bool  # (gloo gathers no bool)
    local = x.detach().to(_device(), torch.uint8 if flag else x.dtype)
    padded = local.new_zeros((max(counts), *x.shape[1:]))
    padded[: len(x)] = local
    parts = [torch.empty_like(padded) for _ in range(w)]
    dist.all_gather(parts, padded)
    parts = [p[:c].to(x.device, x.dtype) for p, c in zip(parts, counts)]
    parts[rank] = x
    return torch.cat(parts)


def pad_dim(x: Tensor, dim: int, value: float | bool = 0) -> Tensor:
    """``x`` padded with ``value`` along ``dim`` to that dim's largest size over the processes
    (so that :func:`gather` can stack them). Alone: ``x``."""
    if processes() == 1:
        return x
    size = torch.tensor([x.shape[dim]], dtype=torch.int64, device=_device())
    dist.all_reduce(size, op=dist.ReduceOp.MAX)
    extra = int(size) - x.shape[dim]
    if extra == 0:
        return x
    shape = list(x.shape)
    shape[dim] = extra
    return torch.cat([x, x.new_full(shape, value)], dim)
