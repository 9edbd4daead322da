"""What a run of several processes (``torchrun``) needs beyond a run of one: the model wrapped
for data parallelism, a random stream of each process's own, every stream in ``last.pt``, and
one clock and one stop decision for all.

Random streams: every process seeds the model's initialisation alike (DDP also broadcasts rank
0's weights), then each process ``r > 0`` draws from a stream of its own (dropout masks,
anything a model draws from the global generator), so slices of the global batch do not share
masks; rank 0 keeps the seed's stream, that of a run of one. ``last.pt`` holds every
process's state (``RunCheckpoint.process_rng``), so a resume continues each stream exactly.
"""

from __future__ import annotations

import torch
from torch import nn

from regionlab.engine import runtime
from regionlab.engine.runtime import Runtime
from regionlab.engine.syncbn import sync_batchnorm

# the stream of process r > 0: seed + r * STREAM_STRIDE (far from seeds a user picks in turn)
STREAM_STRIDE = 1_000_003


def wrap(model: nn.Module, rt: Runtime, sync_bn: bool | None) -> nn.Module:
    """The model the optimisation step calls: DDP around it when there are processes, its
    BatchNorm over the global batch with ``sync_bn`` (``None``: on a GPU only)."""
    if rt.world == 1:
        return model
    if sync_bn or (sync_bn is None and rt.device.type == "cuda"):
        # Batch statistics over the global batch, as in single-process training
        # (without: each process normalises its own slice of it)
        model = sync_batchnorm(model, rt.device)
    # (some parameters get no gradient in some steps: a head without positives, ...)
    ids = [rt.device.index] if rt.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)


def own_stream(seed: int, rt: Runtime) -> None:
    """After the model's initialisation: process ``r > 0`` moves to its own random stream."""
    if rt.rank > 0:
        runtime.seed_everything(seed + rt.rank * STREAM_STRIDE)


def rng_states(rt: Runtime) -> list[dict] | None:
    """Every process's random state by rank, on every process (``None`` for a run of one).
    A collective: every process calls it at the same step."""
    if rt.world == 1:
        return None
    states: list = [None] * rt.world
    torch.distributed.all_gather_object(states, runtime.rng_state())
    return states


def restore_rng(rng: dict, process_rng: list[dict] | None, rt: Runtime) -> None:
    """This process's random state from a checkpoint: its own when the checkpoint holds one
    per process of a run of this size, else the one state it holds."""
    own = process_rng[rt.rank] if process_rng and len(process_rng) == rt.world else rng
    runtime.set_rng_state(own)


def agree(elapsed: float, signum: int, rt: Runtime) -> tuple[float, int]:
    """The largest elapsed time and stop signal over the processes (every process must stop
    at the same step). One collective per step; on the device NCCL reduces."""
    if rt.world == 1:
        return elapsed, signum
    both = torch.tensor([elapsed, signum], dtype=torch.float64).to(rt.device)
    torch.distributed.all_reduce(both, op=torch.distributed.ReduceOp.MAX)
    return float(both[0]), int(both[1])
