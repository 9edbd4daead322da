"""Peak memory of training steps, measured by the kernel: at the start of a step the process's
resident-set high-water mark is reset (``5`` written to ``/proc/self/clear_refs``, Linux 4.0+),
and at its end the mark (``VmHWM`` in ``/proc/self/status``) is the step's peak RSS, exact and
with no sampling thread that could miss a short allocation. CUDA's own peak counter is read
when the device is a GPU.

``with sampler.step(): <one optimisation step>`` measures; :meth:`StepMemory.row` gives the
peaks since the last row (``{"memory": {"peak_rss_mb", "peak_cuda_mb"}}``) for a train row of
``metrics.jsonl`` and resets them. Where the mark cannot be reset (not Linux, or a
``/proc`` that refuses the write) RSS is not recorded: an absent value, not a guess (the
unreset mark is the whole process's peak, the number ``ru_maxrss`` wrongly gave before).
Measuring never changes what the step computes.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import torch

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")
MB = 1024 * 1024


def _status_kb(field: str) -> int | None:
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def rss_bytes() -> int | None:
    """The resident set size of this process now, or ``None`` where it cannot be read."""
    kb = _status_kb("VmRSS")
    return None if kb is None else kb * 1024


def reset_peak() -> bool:
    """Start the kernel's RSS high-water mark over from the current RSS; ``False`` where it
    cannot be."""
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return _status_kb("VmHWM") is not None


def peak_bytes() -> int | None:
    """The RSS high-water mark since the last :func:`reset_peak` (``None`` if unreadable)."""
    kb = _status_kb("VmHWM")
    return None if kb is None else kb * 1024


class StepMemory:
    """The peaks of RSS (kernel high-water mark) and CUDA allocation over the steps since the
    last :meth:`row`."""

    def __init__(self, device: torch.device | None = None) -> None:
        self.cuda = device is not None and device.type == "cuda"
        self.device = device
        self.available = reset_peak()
        self._peak = 0

    @contextmanager
    def step(self):
        """Measure the peak RSS while the block (one step) runs."""
        if not self.available:
            yield
            return
        reset_peak()  # what ran between steps (evaluation, checkpoints) is not the step's
        try:
            yield
        finally:
            self._peak = max(self._peak, peak_bytes() or 0)

    def row(self) -> dict[str, dict[str, float]]:
        """``{"memory": {"peak_rss_mb": ..., "peak_cuda_mb": ...}}`` since the last row (each
        only where measured; ``{}`` when neither is), then start over. Nested, so a train row's
        own keys stay the loss and the task's logs."""
        out = {}
        if self._peak:
            out["peak_rss_mb"] = round(self._peak / MB, 1)
        self._peak = 0
        if self.cuda and torch.cuda.is_available():
            out["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated(self.device) / MB, 1)
            torch.cuda.reset_peak_memory_stats(self.device)
        return {"memory": out} if out else {}
