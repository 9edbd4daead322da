"""The training step's arithmetic: fp32, or bf16 autocast where the CPU has bf16 matrix units.

CPUs with Intel AMX (``amx_bf16``: Xeon 4th generation and later) multiply bf16 matrices
several times faster than fp32 ones (measured on the development machine, 2 threads: a
2048 x 2048 matmul at 317 GFLOP/s in fp32, 2053 in bf16). Under ``torch.autocast`` the
convolutions and matrix products of the forward (and so of the backward) run in bf16 while
the weights, the optimiser and the losses stay fp32 (the models hand their heads' outputs to
their losses as fp32). Measured with ``benchmarks/precision.py`` (issue 22's closing note):
the same number of steps gives the same metrics within the seeds' spread, in less time.

``precision``: ``fp32`` (no autocast), ``bf16`` (autocast, whatever the hardware: without
bf16 units it is emulated, slower than fp32), or ``auto``: bf16 where all of these hold, else
fp32, and the reason is printed at the start of the run and kept in ``run.json``:

- the device is a CPU (on CUDA, bf16 autocast was not measured here);
- the CPU has AMX tiles (without them bf16 would be emulated);
- the task declares that its model trains under bf16 as well as in fp32 (``bf16_training``,
  a task attribute, ``False`` when absent): set only where it was measured.

Only the training step is cast; evaluation, prediction and export compute in fp32.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import torch

from regionlab.engine.config import PRECISIONS


@dataclass(frozen=True)
class Precision:
    """The resolved arithmetic of the training step: ``name`` ``fp32`` or ``bf16``, ``asked``
    what the config said, ``reason`` why (one line)."""

    name: str
    asked: str
    reason: str

    def autocast(self, device: torch.device):
        """The context the training step's forward runs in."""
        if self.name != "bf16":
            return nullcontext()
        return torch.autocast(device.type, dtype=torch.bfloat16)

    def line(self) -> str:
        return f"precision: {self.name} ({self.reason})"

    def to_dict(self) -> dict:
        return {"name": self.name, "asked": self.asked, "reason": self.reason}


def cpu_has_bf16_units() -> bool:
    """Whether this CPU has AMX tiles (``torch.cpu``'s probe; ``False`` where torch has none)."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(probe()) if probe is not None else False


def resolve(asked: str, device: torch.device, task) -> Precision:
    """The step's arithmetic for config value ``asked`` on ``device`` for ``task``."""
    if asked not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {asked!r}")
    if asked != "auto":
        return Precision(asked, asked, "asked")
    if device.type != "cpu":
        return Precision("fp32", asked, f"auto: bf16 autocast is measured on CPUs, not {device}")
    if not getattr(task, "bf16_training", False):
        return Precision("fp32", asked, f"auto: {task.name} was not measured under bf16")
    if not cpu_has_bf16_units():
        return Precision("fp32", asked, "auto: this CPU has no AMX bf16 units")
    return Precision(
        "bf16", asked, "auto: this CPU has AMX bf16 units; --precision fp32 turns it off"
    )
