"""Reproducible budgets: a ``minutes`` run fixes its step count once from its measured speed
and then runs exactly that many steps, so a machine that slows down later changes nothing;
``steps`` never reads the clock."""

from __future__ import annotations

import json
from argparse import Namespace

import pytest
import torch

from regionlab.data.scenes import CLASSES, SceneConfig, SceneDataset
from regionlab.engine import budget, trainer
from regionlab.engine.budget import StepBudget, on_grid, window_ends
from regionlab.engine.checkpoint import load_checkpoint
from regionlab.engine.config import TrainConfig
from regionlab.engine.state import RunState
from regionlab.engine.trainer import fit
from regionlab.models.segmentation.builders import SegmentationSpec
from regionlab.tasks.segmentation import SegmentationTask

CFG = SceneConfig(size=32, max_objects=2)


def _task():
    return SegmentationTask(SegmentationSpec(4, widths=[8, 16]), (32, 32), CLASSES)


def _data():
    return SceneDataset(12, config=CFG), SceneDataset(4, split="val", config=CFG)


def _cfg(**kw):
    base = dict(epochs=None, batch_size=4, eval_batch_size=4, lr=1e-2, progress=False,
                threads=1, eval_every=1000)  # fmt: skip
    return TrainConfig(**{**base, **kw})


class FakeClock:
    """``per_call`` seconds each time it is read; ``later`` seconds per read after ``switch``
    reads (a machine that got slower, or faster)."""

    def __init__(self, per_call: float, later: float | None = None, switch: int = 0):
        self.t, self.n, self.per_call, self.later, self.switch = 0.0, 0, per_call, later, switch

    def __call__(self) -> float:
        self.n += 1
        slow = self.later is not None and self.n > self.switch
        self.t += self.later if slow else self.per_call
        return self.t


def _fit(tmp_path, name, clock, monkeypatch, **kw):
    monkeypatch.setattr(trainer, "clock", clock)
    tr, va = _data()
    r = fit(_task(), tr, va, _cfg(**kw), tmp_path / name, log=lambda *_: None)
    return r, load_checkpoint(tmp_path / name / "last.pt")


def _same_weights(a, b) -> bool:
    return all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_counts_round_to_a_coarse_grid_and_windows_end_at_few_lengths():
    values = [on_grid(n) for n in range(1, 5000)]
    assert all(abs(v - n) <= 0.045 * n + 1 for n, v in zip(range(1, 5000), values))
    assert values == sorted(values)
    assert values[:16] == list(range(1, 17))  # small counts exactly
    assert len(set(values[1000:])) <= 20  # few distinct counts: nearby estimates agree
    assert on_grid(57) == on_grid(61) == 59
    assert [n for n in range(1, 70) if window_ends(n)] == [8, 12, 16, 24, 32, 48, 64]


def test_a_slower_machine_after_the_estimate_ends_at_the_same_step_and_weights(
    tmp_path, monkeypatch
):
    # one fake second per step; budget one minute: the window ends after 2 + 8 steps, the
    # count is fixed again (for good) at 30% of the budget, step 18; the machine changes after
    # (the clock is also read at each 3-step epoch's end: its 30th reading is near step 22)
    switch = 30
    even, a = _fit(tmp_path, "even", FakeClock(1.0), monkeypatch, minutes=1.0)
    slow, b = _fit(tmp_path, "slow", FakeClock(1.0, later=3.0, switch=switch), monkeypatch,
                   minutes=1.0)  # fmt: skip
    fast, c = _fit(tmp_path, "fast", FakeClock(1.0, later=0.2, switch=switch), monkeypatch,
                   minutes=1.0)  # fmt: skip
    assert even.steps == slow.steps == fast.steps == a["state"]["planned_steps"]
    assert 45 <= even.steps <= 60  # about what a minute at a second per step holds
    assert slow.seconds > 1.25 * 60  # it ran long rather than cut its schedule short
    assert _same_weights(a, b) and _same_weights(a, c)
    record = json.loads((tmp_path / "slow" / "run.json").read_text())
    assert record["schedule"]["steps"] == slow.steps and record["schedule"]["from"] == "minutes"
    assert record["schedule"]["schedule_start"] == 2 + budget.MIN_WINDOW
    assert record["schedule"]["replanned_at"] == 18


def test_slow_first_steps_do_not_shorten_the_run(tmp_path, monkeypatch):
    # the first 14 clock readings at 3 s (a first epoch drawing its samples: 42 s, about 10
    # steps), then 1 s: from the window alone the count would be about 10 + 18 / 3 = 16 steps
    # and leave most of the minute unused; measured again from 20% to 30% of the budget, the
    # count is what the rest of the minute holds at the later speed
    r, ckpt = _fit(tmp_path, "warm", FakeClock(3.0, later=1.0, switch=14), monkeypatch,
                   minutes=1.0)  # fmt: skip
    record = json.loads((tmp_path / "warm" / "run.json").read_text())["schedule"]
    assert ckpt["state"]["replanned"] and record["replanned_at"] > record["schedule_start"]
    assert record["seconds_per_step"] > 2 and record["later_seconds_per_step"] < 1.5
    assert r.steps >= 36 and 55 <= r.seconds <= 66  # the budget used, not overrun


def test_steps_ignore_the_clock(tmp_path, monkeypatch):
    steady, a = _fit(tmp_path, "steady", FakeClock(0.001), monkeypatch, steps=7, minutes=0.01)
    erratic, b = _fit(tmp_path, "erratic", FakeClock(0.001, later=500.0, switch=3), monkeypatch,
                      steps=7, minutes=0.01)  # fmt: skip
    assert steady.steps == erratic.steps == 7
    assert _same_weights(a, b)
    record = json.loads((tmp_path / "erratic" / "run.json").read_text())
    assert record["schedule"] == {"steps": 7, "schedule_start": 0, "from": "steps",
                                  "seconds_per_step": None, "window_steps": 0}  # fmt: skip


def test_a_resumed_timed_run_keeps_its_step_count(tmp_path, monkeypatch):
    full, a = _fit(tmp_path, "full", FakeClock(1.0), monkeypatch, minutes=1.0, checkpoint_every=5)

    class Crash(FakeClock):
        def __call__(self):
            if self.n == 31:
                raise KeyboardInterrupt("killed")
            return super().__call__()

    with pytest.raises(KeyboardInterrupt):
        _fit(tmp_path, "cut", Crash(1.0), monkeypatch, minutes=1.0, checkpoint_every=5)
    cut = load_checkpoint(tmp_path / "cut" / "last.pt")["state"]
    assert cut["planned_steps"] == full.steps and cut["step"] < full.steps
    monkeypatch.setattr(trainer, "clock", FakeClock(7.0))  # a much slower machine now
    tr, va = _data()
    cfg = _cfg(minutes=1.0, checkpoint_every=5)
    resumed = fit(_task(), tr, va, cfg, tmp_path / "cut", resume=True, log=lambda *_: None)
    assert resumed.steps == full.steps
    assert _same_weights(a, load_checkpoint(tmp_path / "cut" / "last.pt"))


def test_a_budget_spent_while_measuring_stops_there():
    state = RunState()
    b = StepBudget(_cfg(minutes=0.05), steps_per_epoch=3, state=state)  # 3 seconds
    for step, elapsed in [(1, 1.0), (2, 2.0), (3, 3.5)]:
        state.step, state.elapsed = step, elapsed
        plan = b.after_step()
    assert plan is not None and plan.steps == 3 and b.done()
    assert "budget (or the epochs) ended after 3 steps" in plan.line(b.budget)


def test_epochs_cap_a_timed_run_and_alone_need_no_clock():
    state = RunState()
    b = StepBudget(_cfg(minutes=60.0, epochs=2), steps_per_epoch=3, state=state)
    assert b.measuring
    state.step, state.elapsed = 6, 6.0
    assert b.after_step().steps == 6 and b.done()
    assert not StepBudget(_cfg(epochs=2), 3, RunState()).measuring


def test_the_schedule_is_flat_while_measuring_then_runs_over_the_steps():
    state = RunState()
    b = StepBudget(_cfg(minutes=1.0), steps_per_epoch=3, state=state)
    for step in range(1, 11):
        state.step, state.elapsed = step, float(step)
        assert b.progress() == 0.0
        plan = b.after_step()
    assert plan is not None and plan.start == 10
    state.step = (plan.steps + plan.start) // 2
    assert b.progress() == pytest.approx(0.5, abs=0.05)


def test_steps_and_epochs_together_are_refused():
    from regionlab.api.prepare import train_config

    args = Namespace(config=None, steps=5, epochs=2)
    with pytest.raises(ValueError, match="--steps or --epochs"):
        train_config(args, {})
    cfg = train_config(Namespace(config=None, steps=5), {})
    assert cfg.steps == 5 and cfg.epochs is None
    with pytest.raises(ValueError, match="steps must be >= 1"):
        TrainConfig(steps=0).validate()


def test_a_length_the_flags_give_wins_over_the_config_files(tmp_path):
    from regionlab.engine.config import load_config

    steps_file, epochs_file = tmp_path / "s.json", tmp_path / "e.json"
    steps_file.write_text(json.dumps({"steps": 50}))
    epochs_file.write_text(json.dumps({"epochs": 4}))
    cfg = load_config(steps_file)
    assert (cfg.steps, cfg.epochs) == (50, None)
    cfg = load_config(steps_file, {"epochs": 2})
    assert (cfg.steps, cfg.epochs) == (None, 2)
    cfg = load_config(epochs_file, {"steps": 9})
    assert (cfg.steps, cfg.epochs) == (9, None)
    both = tmp_path / "b.json"
    both.write_text(json.dumps({"steps": 5, "epochs": 2}))
    with pytest.raises(ValueError, match="steps or epochs"):
        load_config(both)
