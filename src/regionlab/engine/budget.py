"""How many steps a run trains: fixed once, so its outcome depends on the work done.

Before, a ``minutes`` budget set the learning-rate schedule's progress to elapsed / budget at
every step: a slower moment of the machine (another process, a warm CPU) changed the learning
rate of every later step, and two runs of one command and seed ended apart (0.07 mIoU on
CamVid at 5 minutes). Now the schedule is defined over steps only:

- ``steps`` given: that many steps; the clock is never read (the same on any machine).
- ``epochs`` only: ``epochs x`` steps per epoch, as before.
- ``minutes``: the run measures its speed over a short window of steps (after
  :data:`SKIP` steps whose first-call costs are not typical), fixes the step count once (the
  steps the rest of the budget holds at that speed, rounded to a coarse geometric grid of
  :data:`GRID_PER_OCTAVE` values per doubling, within about 4.5%), and from then on runs
  exactly that many steps, whatever the clock says. The rounding makes two runs on an idle
  machine pick the same count (then, with one seed and thread count, the same weights).
  With ``epochs`` too, the smaller count wins.

The window's steps train at the warm-up's first learning rate (``lr_factor(0)``): a function
of the step alone, so the window changes nothing between runs; the warm-up and decay start
after it. The window is short: at least :data:`MIN_WINDOW` steps and the smaller of
:data:`WINDOW_SECONDS` and :data:`WINDOW_FRACTION` of the budget, ending at ``2^k`` or
``3 x 2^k`` steps (so a clock a little slower or faster mostly ends it at the same step);
under 1.5 x that time, about 3% of a 5-minute budget at most, trains at the warm-up's
first learning rate.

The first steps are often slower than the rest (a first epoch that decodes or draws every
sample before the sample cache holds it; kernels and allocations warming up): a count from the
window alone left a 2-minute scenes run a third of its budget unused. So the count is fixed
once more, and then for good: the speed is measured again between :data:`MARK_AT` and
:data:`REPLAN_AT` of the budget, and the count becomes what the rest of the budget holds at
that speed (on the same grid). The schedule's progress then moves by the change (at most a
small step of the learning rate, once).

Trade-off: the wall clock decides the count twice, early. If the machine gets slower after the
window the run takes longer than its budget (it is not cut short: a cut would leave the
schedule unfinished and the outcome depend on the load again); the end of the run says by
how much. Decoding a small set's images in its first epoch (before the sample cache holds
them) makes the window's steps slower than later ones, so such a run may end somewhat early.
Nothing here knows which task it runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from regionlab.engine.config import TrainConfig
from regionlab.engine.state import RunState

SKIP = 2  # the first step counts FLOPs; the first steps also pick kernels and fill caches
MIN_WINDOW = 8
WINDOW_SECONDS = 3.0
WINDOW_FRACTION = 0.02
GRID_PER_OCTAVE = 8  # counts 2^(k/8): neighbours about 9% apart
OVERRUN_WARNING = 1.25  # a run past this share of its budget says so
MARK_AT, REPLAN_AT = 0.2, 0.3  # shares of the budget: the second speed measurement


def on_grid(n: int) -> int:
    """The count of the grid ``round(2^(k / GRID_PER_OCTAVE))`` nearest to ``n`` on a log scale
    (within about 4.5%; every count up to 16 is on the grid)."""
    if n <= 16:
        return max(n, 0)
    return round(2 ** (round(math.log2(n) * GRID_PER_OCTAVE) / GRID_PER_OCTAVE))


def window_ends(n: int) -> bool:
    """Whether a measuring window may end after ``n`` steps: ``2^k`` or ``3 x 2^k`` steps, so
    a clock a little off mostly ends it at the same step."""
    odd = n // 3 if n % 3 == 0 else n
    return n >= MIN_WINDOW and odd & (odd - 1) == 0


@dataclass
class Plan:
    """Where the count came from (for ``run.json`` and the log)."""

    steps: int
    start: int  # the step the schedule starts at (the end of the measuring window; else 0)
    source: str  # "steps" | "epochs" | "minutes"
    seconds_per_step: float | None = None
    window: int = 0  # steps measured
    replanned_at: int | None = None  # the step the count was fixed again (at REPLAN_AT)
    later_seconds_per_step: float | None = None  # the speed it was fixed from

    def to_dict(self) -> dict:
        d = {
            "steps": self.steps,
            "schedule_start": self.start,
            "from": self.source,
            "seconds_per_step": self.seconds_per_step,
            "window_steps": self.window,
        }
        if self.replanned_at is not None:
            d.update(
                replanned_at=self.replanned_at, later_seconds_per_step=self.later_seconds_per_step
            )
        return d

    def line(self, budget: float | None) -> str:
        if self.source != "minutes":
            return f"schedule: {self.steps} steps (from --{self.source})"
        if self.replanned_at is not None:
            return (
                f"schedule: {self.steps} steps, fixed again at step {self.replanned_at} from "
                f"{self.later_seconds_per_step:.3g} s/step since {MARK_AT:.0%} of the budget; "
                "final"
            )
        if self.seconds_per_step is None:
            return (
                f"schedule: the {budget / 60:g}-minute budget (or the epochs) ended after "
                f"{self.steps} steps, before the speed was measured"
            )
        return (
            f"schedule: {self.steps} steps, fixed after {self.start} steps at "
            f"{self.seconds_per_step:.3g} s/step for a {budget / 60:g}-minute budget (rounded "
            "to a grid; from now on the clock does not change the run; --steps N fixes it)"
        )


class StepBudget:
    """The run's length in steps and its schedule's progress, kept in ``state``
    (``planned_steps``, ``schedule_start``) so a resume continues the same schedule."""

    def __init__(self, cfg: TrainConfig, steps_per_epoch: int, state: RunState) -> None:
        self.budget = cfg.minutes * 60 if cfg.minutes and not cfg.steps else None
        self.epoch_steps = cfg.epochs * steps_per_epoch if cfg.epochs else None
        self.window_from: tuple[int, float] | None = None
        self.plan: Plan | None = None
        known = cfg.steps or (self.epoch_steps if self.budget is None else None)
        if known:
            self.plan = Plan(known, 0, "steps" if cfg.steps else "epochs")
        self.attach(state)

    def attach(self, state: RunState) -> None:
        """Use ``state`` (a new run's or a resumed one's): a count known from the config is
        written into it; a measured one it holds (a resume) is kept."""
        self.state = state
        if self.plan is not None:
            state.planned_steps, state.schedule_start = self.plan.steps, 0
        elif state.planned_steps:
            self.plan = Plan(state.planned_steps, state.schedule_start, "minutes")

    @property
    def measuring(self) -> bool:
        return not self.state.planned_steps

    def progress(self) -> float:
        """The schedule's progress 0..1 (0 while measuring)."""
        st = self.state
        if self.measuring:
            return 0.0
        span = max(1, st.planned_steps - st.schedule_start)
        return min(1.0, max(0.0, (st.step - st.schedule_start) / span))

    def done(self) -> bool:
        return not self.measuring and self.state.step >= self.state.planned_steps

    def after_step(self) -> Plan | None:
        """Called after every step; returns the plan when it is fixed at this step."""
        st = self.state
        if self.budget is None:
            return None
        if not self.measuring:
            return self._second_measurement()
        if st.elapsed >= self.budget or (self.epoch_steps and st.step >= self.epoch_steps):
            return self._fix(st.step, None, 0)  # the budget ran out while measuring
        if self.window_from is None:
            if st.step >= SKIP:
                self.window_from = (st.step, st.elapsed)
            return None
        n, seconds = st.step - self.window_from[0], st.elapsed - self.window_from[1]
        long_enough = seconds >= min(WINDOW_SECONDS, WINDOW_FRACTION * self.budget)
        if not (window_ends(n) and long_enough):
            return None
        rate = seconds / n
        total = on_grid(st.step + int((self.budget - st.elapsed) / rate))
        if self.epoch_steps:
            total = min(total, self.epoch_steps)
        return self._fix(max(total, st.step), rate, n)

    def _fix(self, total: int, rate: float | None, window: int) -> Plan:
        st = self.state
        st.planned_steps, st.schedule_start = max(total, 1), st.step
        self.plan = Plan(st.planned_steps, st.step, "minutes", rate, window)
        return self.plan

    def _second_measurement(self) -> Plan | None:
        """Mark the speed at MARK_AT of the budget; at REPLAN_AT fix the count for good."""
        st = self.state
        if st.replanned or self.plan is None or self.plan.source != "minutes":
            return None  # done, or a count the flags gave
        if st.speed_mark is None:
            if st.elapsed >= MARK_AT * self.budget:
                st.speed_mark = [st.step, st.elapsed]
            return None
        step0, t0 = st.speed_mark
        if st.elapsed < REPLAN_AT * self.budget or st.step <= step0:
            return None
        rate = (st.elapsed - t0) / (st.step - step0)
        total = on_grid(st.step + int(max(0.0, self.budget - st.elapsed) / rate))
        if self.epoch_steps:
            total = min(total, self.epoch_steps)
        st.planned_steps, st.replanned = max(total, st.step), True
        self.plan.steps, self.plan.replanned_at = st.planned_steps, st.step
        self.plan.later_seconds_per_step = rate
        return self.plan

    def overrun(self) -> str | None:
        """A line when the run took much longer than its budget (the machine got slower)."""
        if self.budget and self.state.elapsed > OVERRUN_WARNING * self.budget:
            return (
                f"note: training took {self.state.elapsed / 60:.1f} minutes for a "
                f"{self.budget / 60:g}-minute budget: the machine got slower after the step "
                "count was fixed (the count, not the clock, decides the run)"
            )
        return None
