"""Work that runs on one core, spread over the process's intra-op threads.

:func:`map_images` runs ``fn`` per item in as many threads as ``torch.get_num_threads()`` (the
threads the user gave the run), and in the calling thread where tracing, scripting or
compiling must see every op there. Only for serial kernels that release the GIL, their
inputs prepared by the caller (torchvision's CPU NMS: :mod:`regionlab.ops.nms`): a worker
that runs ordinary tensor ops, even indexing, was measured to slow the whole training step
down (Faster R-CNN at 2 threads: 0.22 -> 0.30 s), not speed it up.

Each item's result depends on that item alone and comes back in order, so the results are
the same, bit for bit, at any thread count. Grad mode and autocast are per thread (off in a
worker): ``fn`` must need neither.

Imports only torch (``ops`` room).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

T = TypeVar("T")

_POOLS: dict[int, ThreadPoolExecutor] = {}


def _forget_pools() -> None:
    # A forked child (a DataLoader worker) inherits the pools but not their threads.
    _POOLS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools)


def _serial() -> bool:
    return (
        torch.get_num_threads() <= 1
        or torch.jit.is_tracing()
        or torch.jit.is_scripting()
        or torch.compiler.is_compiling()
    )


def map_images(fn: Callable[..., T], *per_image: Iterable) -> list[T]:
    """``[fn(*args) for args in zip(*per_image)]``, the items in threads (see the module)."""
    items = list(zip(*per_image, strict=True))
    if len(items) <= 1 or _serial():
        return [fn(*args) for args in items]
    n = torch.get_num_threads()
    pool = _POOLS.get(n)
    if pool is None:
        pool = _POOLS[n] = ThreadPoolExecutor(n, thread_name_prefix="regionlab-image")
    return list(pool.map(lambda args: fn(*args), items))
