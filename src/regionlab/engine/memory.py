"""Peak memory of training steps, measured during the steps: one background thread (started at
the first step, ended by :meth:`StepMemory.close`) samples the process's resident set size
(RSS, from ``/proc/self/statm``) every few milliseconds while a step runs and waits between
steps, and CUDA's own peak counter is read when the device is a GPU.

``with sampler.step(): <one optimisation step>`` measures; :meth:`StepMemory.row` gives the
peaks since the last row (``{"memory": {"peak_rss_mb", "peak_cuda_mb"}}``) for a train row
of ``metrics.jsonl`` and resets them. Where ``/proc`` is missing (not Linux) RSS is not recorded: an absent value, not
a guess. Sampling never changes what the step computes.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import torch

STATM = Path("/proc/self/statm")
# fine enough to see a step's activations (a step takes tens of ms or more), coarse enough to
# cost nothing measurable (one small read per interval, outside the GIL for the sleep)
INTERVAL_S = 0.003
MB = 1024 * 1024


def rss_bytes() -> int | None:
    """The resident set size of this process now, or ``None`` where it cannot be read."""
    try:
        pages = int(STATM.read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE")


class StepMemory:
    """The peaks of RSS (sampled) and CUDA allocation over the steps since the last
    :meth:`row`."""

    def __init__(self, device: torch.device | None = None, interval: float = INTERVAL_S) -> None:
        self.interval = interval
        self.cuda = device is not None and device.type == "cuda"
        self.device = device
        self.available = rss_bytes() is not None
        self._peak = 0
        self._lock = threading.Lock()
        self._active = threading.Event()  # set while a step runs
        self._closed = False
        self._thread: threading.Thread | None = None  # one per run, not one per step

    def _see(self, value: int | None) -> None:
        if value is not None:
            with self._lock:
                self._peak = max(self._peak, value)

    def _sample(self) -> None:
        while self._active.wait() and not self._closed:
            self._see(rss_bytes())
            time.sleep(self.interval)

    @contextmanager
    def step(self):
        """Sample RSS while the block (one step) runs."""
        if not self.available:
            yield
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        self._see(rss_bytes())
        self._active.set()
        try:
            yield
        finally:
            self._active.clear()
            self._see(rss_bytes())

    def close(self) -> None:
        """End the sampling thread (the run is over)."""
        self._closed = True
        self._active.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def row(self) -> dict[str, dict[str, float]]:
        """``{"memory": {"peak_rss_mb": ..., "peak_cuda_mb": ...}}`` since the last row (each
        only where measured; ``{}`` when neither is), then start over. Nested, so a train row's
        own keys stay the loss and the task's logs."""
        out = {}
        with self._lock:
            if self._peak:
                out["peak_rss_mb"] = round(self._peak / MB, 1)
            self._peak = 0
        if self.cuda and torch.cuda.is_available():
            out["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated(self.device) / MB, 1)
            torch.cuda.reset_peak_memory_stats(self.device)
        return {"memory": out} if out else {}
