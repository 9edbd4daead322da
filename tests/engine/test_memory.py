"""Peak memory measured during a step: an allocation that lives only inside the step is the
step's peak (however short), the row resets, an earlier larger peak outside the steps does not
count, and nothing is recorded where the mark cannot be reset."""

from __future__ import annotations

import mmap

import pytest
import torch

from regionlab.engine import memory
from regionlab.engine.memory import StepMemory, reset_peak, rss_bytes

pytestmark = pytest.mark.skipif(not reset_peak(), reason="no resettable /proc/self peak RSS here")


def test_a_transient_allocation_inside_the_step_is_the_peak():
    big = torch.ones(120 * 1024 * 1024 // 4)  # a larger peak before the steps: not a step's
    del big
    sampler = StepMemory(torch.device("cpu"))
    with sampler.step():
        pass
    base = sampler.row()["memory"]["peak_rss_mb"]
    with sampler.step():
        # 40 MB of fresh pages, each written so it is resident (an mmap of its own: a malloc
        # may reuse pages a large process already holds, and its RSS would not move), freed
        # at once: no sampler could be relied on to see it
        block = mmap.mmap(-1, 40 * 1024 * 1024)
        for i in range(0, len(block), mmap.PAGESIZE):
            block[i] = 1
        block.close()
    after = rss_bytes() / memory.MB
    peak = sampler.row()["memory"]["peak_rss_mb"]
    assert peak >= base + 35 and peak >= after + 35  # seen during the step, gone after it
    assert peak < base + 100  # the 120 MB before the steps is not counted
    assert sampler.row() == {}  # a row starts over


def test_no_proc_no_value(monkeypatch, tmp_path):
    monkeypatch.setattr(memory, "CLEAR_REFS", tmp_path / "missing" / "clear_refs")
    sampler = StepMemory(torch.device("cpu"))
    with sampler.step():
        pass
    assert not sampler.available and sampler.row() == {}
