"""Per-image work in threads: the same results in the same order, threads only where allowed."""

import threading

import pytest
import torch

from regionlab.ops.threads import map_images


@pytest.fixture
def threads():
    def use(n: int) -> None:
        torch.set_num_threads(n)

    before = torch.get_num_threads()
    yield use
    torch.set_num_threads(before)


def _where(i: int, x: int) -> tuple[int, str]:
    return i * x, threading.current_thread().name


def test_images_run_in_the_run_s_threads_and_come_back_in_order(threads):
    threads(2)
    out = map_images(_where, range(6), [10] * 6)
    assert [v for v, _ in out] == [0, 10, 20, 30, 40, 50]
    assert all(name.startswith("regionlab-image") for _, name in out)
    threads(1)  # one thread: the caller's, nothing else
    assert {name for _, name in map_images(_where, range(3), [1] * 3)} == {"MainThread"}


def test_a_trace_sees_every_op_in_its_own_thread(threads, monkeypatch):
    threads(2)
    monkeypatch.setattr(torch.jit, "is_tracing", lambda: True)
    assert {name for _, name in map_images(_where, range(3), [1] * 3)} == {"MainThread"}


def test_the_inputs_must_pair_up():
    with pytest.raises(ValueError):
        map_images(_where, range(3), [1, 2])
