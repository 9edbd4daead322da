"""Peak memory measured during a step: an allocation that lives only inside the step is seen
by the sampler, the row resets, and nothing is recorded where RSS cannot be read."""

from __future__ import annotations

import time

import pytest
import torch

from regionlab.engine import memory
from regionlab.engine.memory import StepMemory, rss_bytes

pytestmark = pytest.mark.skipif(rss_bytes() is None, reason="no /proc/self/statm here")


def test_a_transient_allocation_inside_the_step_is_the_peak():
    sampler = StepMemory(torch.device("cpu"))
    with sampler.step():
        pass
    base = sampler.row()["memory"]["peak_rss_mb"]
    with sampler.step():
        x = torch.ones(40 * 1024 * 1024 // 4)  # 40 MB, written so its pages are resident
        time.sleep(0.05)  # a step's activations live this long at least
        del x
    after = rss_bytes() / memory.MB
    peak = sampler.row()["memory"]["peak_rss_mb"]
    assert peak >= base + 30 and peak >= after + 30  # seen during the step, gone after it
    assert sampler.row() == {}  # a row starts over
    thread = sampler._thread
    with sampler.step():  # the same sampler thread serves every step of a run
        pass
    assert sampler._thread is thread and thread.is_alive()
    sampler.close()
    assert not thread.is_alive()


def test_no_proc_no_value(monkeypatch, tmp_path):
    monkeypatch.setattr(memory, "STATM", tmp_path / "missing")
    sampler = StepMemory(torch.device("cpu"))
    with sampler.step():
        pass
    assert not sampler.available and sampler.row() == {}
