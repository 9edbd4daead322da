"""Reproducible budgets: a ``minutes`` run fixes its step count once from its measured speed
and then runs exactly that many steps, its learning rate a function of the step and that count
alone, so a machine that is slower before or after the fix changes nothing else; ``steps``
never reads the clock."""

from __future__ import annotations

import json
from argparse import Namespace

import pytest
import torch

from regionlab.data.scenes import CLASSES, SceneConfig, SceneDataset
from regionlab.engine import trainer
from regionlab.engine.budget import StepBudget, on_grid
from regionlab.engine.checkpoint import load_checkpoint
from regionlab.engine.config import TrainConfig
from regionlab.engine.optim import steps_repeat_timed, warmup_steps
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


def test_counts_round_to_a_coarse_grid():
    values = [on_grid(n) for n in range(1, 5000)]
    assert all(abs(v - n) <= 0.045 * n + 1 for n, v in zip(range(1, 5000), values))
    assert values == sorted(values)
    assert values[:16] == list(range(1, 17))  # small counts exactly
    assert len(set(values[1000:])) <= 20  # few distinct counts: nearby estimates agree
    assert on_grid(57) == on_grid(61) == 59


def _schedule(tmp_path, name) -> dict:
    return json.loads((tmp_path / name / "run.json").read_text())["schedule"]


def test_a_slower_machine_after_the_count_is_fixed_ends_at_the_same_step_and_weights(
    tmp_path, monkeypatch
):
    # one fake second per clock reading (about one per step); budget one minute: the speed is
    # measured from 20% to 30% of it and the count fixed there, at step 18 (57 readings in a
    # minute: 59 on the grid); the machine changes after that
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
    record = _schedule(tmp_path, "slow")
    assert record["steps"] == slow.steps and record["from"] == "minutes"
    assert record["fixed_at"] == 18 and record["decay_start"] == round(0.4 * slow.steps)


def test_a_clock_that_differs_before_the_count_is_fixed_changes_nothing_else(tmp_path, monkeypatch):
    # the same count reached from a different start (slower first steps, as a first epoch
    # that decodes its images): the learning rate is a function of the step until the count
    # is fixed, so the same count gives the same weights
    even, a = _fit(tmp_path, "even", FakeClock(1.0), monkeypatch, minutes=1.0)
    warm, b = _fit(tmp_path, "warm", FakeClock(1.5, later=1.0, switch=6), monkeypatch,
                   minutes=1.0)  # fmt: skip
    assert even.steps == warm.steps and _same_weights(a, b)
    assert _schedule(tmp_path, "warm")["fixed_at"] < _schedule(tmp_path, "even")["fixed_at"]


def test_slow_first_steps_do_not_shorten_the_run(tmp_path, monkeypatch):
    # the first 4 clock readings at 3 s (a first epoch drawing its samples: 12 s, a fifth of
    # the budget), then 1 s: the count is what the rest of the minute holds at the later speed
    r, ckpt = _fit(tmp_path, "warm", FakeClock(3.0, later=1.0, switch=4), monkeypatch,
                   minutes=1.0)  # fmt: skip
    record = _schedule(tmp_path, "warm")
    assert record["seconds_per_step"] < 1.5 and ckpt["state"]["speed_mark"] is not None
    assert r.steps >= 45 and 55 <= r.seconds <= 66  # the budget used, not overrun


def test_steps_ignore_the_clock(tmp_path, monkeypatch):
    steady, a = _fit(tmp_path, "steady", FakeClock(0.001), monkeypatch, steps=7, minutes=0.01)
    erratic, b = _fit(tmp_path, "erratic", FakeClock(0.001, later=500.0, switch=3), monkeypatch,
                      steps=7, minutes=0.01)  # fmt: skip
    assert steady.steps == erratic.steps == 7
    assert _same_weights(a, b)
    assert _schedule(tmp_path, "erratic") == {"steps": 7, "decay_start": 3, "from": "steps",
                                              "seconds_per_step": None, "fixed_at": None}  # fmt: skip


def test_steps_n_repeats_a_timed_run_that_fixed_n_steps(tmp_path, monkeypatch):
    # the same schedule once the count is known: warm-up (5 steps here, within a tenth of
    # the count), flat, cosine from 40%; the same data order; so the same weights
    timed, a = _fit(tmp_path, "timed", FakeClock(1.0), monkeypatch, minutes=1.0, warmup=0.005)
    again, b = _fit(tmp_path, "again", FakeClock(0.01), monkeypatch, steps=timed.steps,
                    warmup=0.005)  # fmt: skip
    assert again.steps == timed.steps and _same_weights(a, b)
    assert (
        _schedule(tmp_path, "again")["decay_start"] == _schedule(tmp_path, "timed")["decay_start"]
    )


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


def test_a_budget_spent_before_it_is_measured_stops_there():
    state = RunState()
    b = StepBudget(_cfg(minutes=0.05), steps_per_epoch=3, state=state)  # 3 seconds
    state.step, state.elapsed = 1, 3.5  # one step longer than the budget
    plan = b.after_step()
    assert plan is not None and plan.steps == 1 and b.done()
    assert "budget (or the epochs) ended after 1 steps" in plan.line(b.budget)


def test_epochs_cap_a_timed_run_and_alone_need_no_clock():
    state = RunState()
    b = StepBudget(_cfg(minutes=60.0, epochs=2), steps_per_epoch=3, state=state)
    assert b.measuring
    state.step, state.elapsed = 6, 6.0
    assert b.after_step().steps == 6 and b.done()
    assert not StepBudget(_cfg(epochs=2), 3, RunState()).measuring


def test_a_timed_schedule_warms_up_in_steps_stays_flat_then_decays_over_the_fixed_count():
    cfg = _cfg(minutes=1.0)  # warm-up 3%: 30 steps
    state = RunState()
    b = StepBudget(cfg, steps_per_epoch=3, state=state)
    factors = []
    for step in range(0, 13):  # a second a step; the speed mark at 20%: step 12
        state.step, state.elapsed = step, float(step)
        factors.append(b.lr_factor())
        plan = b.after_step()
    assert factors == [(s + 1) / warmup_steps(cfg) for s in range(13)]  # the step alone
    assert b.progress() == 0.0 and plan is None and state.speed_mark == [12, 12.0]
    state.step, state.elapsed = 72, 18.0  # 60 steps in 6 s: 0.1 s a step from then on
    plan = b.after_step()
    assert plan.steps == on_grid(72 + 420) and plan.decay_start == round(0.4 * plan.steps)
    state.step = plan.decay_start
    assert b.lr_factor() == 1.0
    state.step = (plan.decay_start + plan.steps) // 2
    assert b.lr_factor() == pytest.approx(0.5, abs=0.01)
    state.step = plan.steps
    assert b.lr_factor() == pytest.approx(0.0, abs=1e-9) and b.done()
    assert b.progress() == 1.0
    short = StepBudget(_cfg(steps=40), steps_per_epoch=3, state=RunState())  # known: 40
    assert warmup_steps(cfg, known=40) == 4 and short.plan.decay_start == 16
    # so --steps N repeats a timed run of N steps once a tenth of N (rounded up) reaches the
    # timed warm-up of 30 steps: from 291 on
    assert steps_repeat_timed(cfg, 291) and not steps_repeat_timed(cfg, 290)
    assert short.lr_factor() == pytest.approx(1 / 4)


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
