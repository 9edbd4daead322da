"""Per-image work that runs on one core, spread over the process's intra-op threads.

torchvision's CPU NMS kernel is a serial loop (``O(n x kept)`` IoU tests): a batch's proposal
NMS (8 images x 3 levels of up to 1,000 boxes each step in Faster R-CNN's training) ran on one
core while the others waited, about a quarter of the step. The kernel releases the GIL, so
the images can run side by side in threads: :func:`map_images` uses as many as
``torch.get_num_threads()`` (the threads the user gave the run), and one where tracing,
scripting or compiling must see every op in the calling thread.

Each image's result depends on that image alone and comes back in order, so the results are
the same, bit for bit, at any thread count. Grad mode and autocast are per thread (off in a
worker): ``fn`` must not need either (proposals: ``no_grad`` and fp32 by construction).

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
    """``[fn(*args) for args in zip(*per_image)]``, the images in threads (see the module)."""
    items = list(zip(*per_image, strict=True))
    if len(items) <= 1 or _serial():
        return [fn(*args) for args in items]
    n = torch.get_num_threads()
    pool = _POOLS.get(n)
    if pool is None:
        pool = _POOLS[n] = ThreadPoolExecutor(n, thread_name_prefix="regionlab-image")
    return list(pool.map(lambda args: fn(*args), items))
