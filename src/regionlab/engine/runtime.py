"""Process-level setup: threads, seeds, device, and (under torchrun) the process group."""

from __future__ import annotations

import atexit
import os
import random
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def set_threads(threads: int | None) -> None:
    """Intra-op threads: the given count, else one per core this process may use (a laptop's
    cores, or the cores torchrun gives each process)."""
    if threads is None:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:  # macOS, Windows
            cores = os.cpu_count() or 1
        world = int(os.environ.get("WORLD_SIZE", "1"))
        threads = max(1, cores // world)
    torch.set_num_threads(threads)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def setup(device: str = "auto", threads: int | None = None) -> Runtime:
    """Pick the device; join the process group when launched by ``torchrun``."""
    set_threads(threads)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    rank, world = 0, 1
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            backend = "nccl" if device.startswith("cuda") else "gloo"
            dist.init_process_group(backend)
            atexit.register(_leave_group)
        rank, world = dist.get_rank(), dist.get_world_size()
        if device.startswith("cuda"):
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            device = f"cuda:{local}"
    return Runtime(torch.device(device), rank, world)


def _leave_group() -> None:
    """Destroy the process group :func:`setup` created, at exit, if nobody has yet (the CLI
    does): left to the interpreter's teardown, gloo's worker threads still hold tensors whose
    release needs the interpreter, and the process aborts ("terminate called without an
    active exception", exit -6) after training finished well (a job calling ``fit``
    under torchrun)."""
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": list(_py_state())}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _py_state():
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
