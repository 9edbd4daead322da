"""Growth schedules as text, e.g. for a ``--grow`` option of a trainer.

``"epoch=3:wider(encoder.stages.1,2x); epoch=6:deeper(encoder.stages.2)"``: entries separated by
``;``, each ``epoch=N:OP(TARGET[,ARG])`` with

- ``wider(T, Fx)``: :func:`widen_block` of container ``T`` by factor ``F`` (a single Linear/conv
  ``T``: :func:`widen` it to ``ceil(F * width)`` with inferred consumers);
- ``deeper(T[, identity|residual])``: :func:`deepen` after ``T`` (default ``identity``);
- ``kernel(T, K)``: :func:`widen_kernel` of conv ``T`` to ``K``.

Steps run at the *start* of epoch ``N`` (after ``N`` full epochs), with the optimizer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
from torch import nn

from regionlab.growth import graph
from regionlab.growth.deeper import deepen
from regionlab.growth.errors import GrowthError
from regionlab.growth.kernel import widen_kernel
from regionlab.growth.wider import widen, widen_block

_ENTRY = re.compile(
    r"^epoch\s*=\s*(\d+)\s*:\s*(wider|deeper|kernel)\s*\(\s*([\w.]+)\s*(?:,\s*([\w.]+)\s*)?\)$"
)


@dataclass(frozen=True)
class GrowthStep:
    epoch: int
    op: str  # wider | deeper | kernel
    target: str
    arg: str | None = None  # "2x" | "identity"/"residual" | "5"

    def __str__(self) -> str:
        return f"epoch={self.epoch}:{self.op}({self.target}{',' + self.arg if self.arg else ''})"


def _check_arg(step: GrowthStep, entry: str) -> None:
    ok = {
        "wider": step.arg is not None and re.fullmatch(r"\d+(\.\d+)?x", step.arg) is not None,
        "deeper": step.arg in (None, "identity", "residual"),
        "kernel": step.arg is not None and step.arg.isdigit(),
    }[step.op]
    if not ok:
        usage = {"wider": "wider(T,2x)", "deeper": "deeper(T[,residual])", "kernel": "kernel(T,5)"}
        raise GrowthError(f"growth schedule entry {entry!r}: expected {usage[step.op]}")


def parse_schedule(text: str) -> list[GrowthStep]:
    """Parse a schedule string into steps sorted by epoch (stable for equal epochs)."""
    steps = []
    for entry in (e.strip() for e in text.split(";")):
        if not entry:
            continue
        m = _ENTRY.match(entry)
        if m is None:
            raise GrowthError(
                f"growth schedule entry {entry!r}: expected 'epoch=N:wider(T,2x)', "
                "'epoch=N:deeper(T[,residual])' or 'epoch=N:kernel(T,5)'"
            )
        step = GrowthStep(int(m[1]), m[2], m[3], m[4])
        _check_arg(step, entry)
        steps.append(step)
    return sorted(steps, key=lambda s: s.epoch)


def apply_step(
    model: nn.Module,
    step: GrowthStep,
    optimizer: torch.optim.Optimizer | None = None,
    generator: torch.Generator | None = None,
    *,
    mode: str = "net2net",
    noise: float = 0.0,
) -> list:
    """Run one step on ``model`` (in place; the optimizer remapped). Returns the records.

    ``mode``/``noise`` apply to ``wider`` steps (see :func:`widen`): with ``net2net`` and no
    noise, replicas receive identical gradients and stay copies, so the added width is never
    used; ``morphism`` with noise stays exact (the new units' outgoing weights are zero) and
    still lets the new units diverge.
    """
    if step.op == "deeper":
        return [deepen(model, step.target, kind=step.arg or "identity", optimizer=optimizer)]
    if step.op == "kernel":
        return [widen_kernel(model, step.target, int(step.arg), optimizer=optimizer)]
    factor = float(step.arg[:-1])
    target = graph.get_module(model, step.target)
    kw = dict(generator=generator, optimizer=optimizer, mode=mode, noise=noise)
    if graph.is_producer(target):
        new = math.ceil(graph.out_width(target) * factor)
        return [widen(model, step.target, new, **kw)]
    return widen_block(model, step.target, factor, **kw)
