"""``ops.global_batch``: a loss computed by each of 2 processes on its slice, inside
``global_batch``, has the gradient (averaged as DDP averages) of the 1-process loss over the
whole batch, for the three kinds of loss the models use: a mean over a count that varies by
slice, a function of batch sums (Dice), a loss over pairs across images (ranking). Outside the
context, or alone, the helpers change nothing."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from regionlab.ops.global_batch import (
    gather,
    global_batch,
    global_count,
    global_loss,
    global_sums,
    pad_dim,
    processes,
)


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 3, generator=g)  # 6 items; slices [0:2] and [2:6], unequal on purpose
    weight = (torch.rand(6, 3, generator=g) > 0.4).float()
    return x, weight


def _count_loss(x, w, theta):
    return ((x * theta) ** 2 * w).sum() / global_count(w.sum())


def _dice_loss(x, w, theta):
    p = torch.sigmoid(x * theta)
    inter, total = global_sums((p * w).sum(0), (p + w).sum(0))
    return global_loss(1 - (2 * inter / total).mean())


def _rank_loss(x, w, theta):
    e = gather(pad_dim(x * theta, 1))  # (all items, 3), this slice's rows with a gradient
    s = e @ e.T
    return global_loss((s - s.diagonal()[:, None] + 1).clamp(min=0).mean())


LOSSES = {"count": _count_loss, "dice": _dice_loss, "ranking": _rank_loss}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, out: dict) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        x, w = _data()
        part = slice(0, 2) if rank == 0 else slice(2, 6)
        for name, fn in LOSSES.items():
            theta = torch.linspace(0.5, 1.5, 3, requires_grad=True)
            with global_batch(2):
                assert processes() == 2
                fn(x[part], w[part], theta).backward()
            grad = theta.grad.clone()
            dist.all_reduce(grad)  # DDP's average
            out[(name, rank)] = grad / 2
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed missing")
def test_two_slices_give_the_gradient_of_the_whole_batch():
    x, w = _data()
    expected = {}
    for name, fn in LOSSES.items():
        theta = torch.linspace(0.5, 1.5, 3, requires_grad=True)
        fn(x, w, theta).backward()  # no process group: the helpers leave the loss as it is
        expected[name] = theta.grad
    out = mp.Manager().dict()
    mp.spawn(_worker, args=(_free_port(), out), nprocs=2, join=True)
    for name in LOSSES:
        for rank in (0, 1):
            torch.testing.assert_close(out[(name, rank)], expected[name], rtol=1e-6, atol=1e-7)


def test_alone_the_helpers_are_the_plain_loss():
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with global_batch(2):  # no process group: one process whatever the context says
        assert processes() == 1
        assert float(global_count(torch.tensor(0.0))) == 1.0  # the minimum: 0 / 1, not NaN
        assert float(global_count(4, minimum=1e-12)) == 4.0
        (s,) = global_sums(x.sum())
        assert global_loss(s) is s and gather(x) is x and pad_dim(x, 0) is x
