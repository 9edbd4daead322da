"""How many steps a run trains, and its learning-rate schedule: fixed so that the outcome
depends on the work done, not on how busy the machine was.

- ``steps`` given: that many steps; the clock is never read (the same on any machine). The
  schedule is a timed run's (below) with the count known from the start, so ``--steps N``
  repeats a timed run that fixed ``N`` steps exactly once a tenth of ``N`` reaches the timed
  warm-up (from 291 steps at the default; a shorter run warms up over a tenth of its steps).
- ``epochs`` only: ``epochs x`` steps per epoch, following
  :func:`regionlab.engine.optim.lr_factor` (warm-up share, cosine over the run).
- ``minutes``: a wall-clock budget. The count cannot be known before the run has measured its
  speed, and the first steps are not typical of it (a first epoch decoding or drawing every
  sample before the sample cache holds it, kernels and allocations warming up: up to 1.6x
  slower). So the run measures its speed from :data:`MARK_AT` to :data:`REPLAN_AT` of the
  budget and fixes the count once, there: the steps the rest of the budget holds at that
  speed, rounded to a coarse geometric grid of :data:`GRID_PER_OCTAVE` values per doubling
  (within about 4.5%), so two runs on an idle machine mostly pick the same count; a
  process's speed varies by about 5% between runs, so not always, and the first run of a
  setup on a machine remembers its count for the next (:mod:`.step_cache`). With ``epochs``
  too, the smaller count wins.

A timed run's schedule (:func:`regionlab.engine.optim.timed_lr_factor`) is a function of the
step and the final count only: a linear warm-up over a number of *steps*
(:func:`regionlab.engine.optim.warmup_steps`: the count is unknown while it runs), then flat
until the decay starts at :data:`DECAY_FROM` of the final count, then cosine to zero at the
last step (warmup-stable-decay). Before the count is fixed nothing reads a guess of it, so two
runs that end up with the same count train with the same learning rate at every step (then,
with one seed and thread count, to the same weights). The decay starts after the fix unless
the first 30% of the time held more than :data:`DECAY_FROM` of the steps (steps that got
much slower later); then it starts at the fix. An earlier design fixed a provisional count
from the first few seconds and ran the cosine over it until the second measurement moved it:
two demo runs that ended with the same 1218 steps scored 0.833 and 0.790 mIoU.

Trade-off: the wall clock decides the count once. If the machine gets slower after the fix the
run takes longer than its budget (it is not cut short: a cut would leave the schedule
unfinished and the outcome depend on the load again); the end of the run says by how much. A
budget too short to measure (spent before :data:`REPLAN_AT`) ends where it is, undecayed.
Nothing here knows which task it runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from regionlab.engine.config import TrainConfig
from regionlab.engine.optim import lr_factor, timed_lr_factor
from regionlab.engine.state import RunState
from regionlab.engine.step_cache import StepCache, cache_path

GRID_PER_OCTAVE = 8  # counts 2^(k/8): neighbours about 9% apart
OVERRUN_WARNING = 1.25  # a run past this share of its budget says so
MARK_AT, REPLAN_AT = 0.2, 0.3  # shares of the budget: where the speed is measured
DECAY_FROM = 0.4  # share of the final count: the flat part ends, the cosine starts


def on_grid(n: int) -> int:
    """The count of the grid ``round(2^(k / GRID_PER_OCTAVE))`` nearest to ``n`` on a log scale
    (within about 4.5%; every count up to 16 is on the grid)."""
    if n <= 16:
        return max(n, 0)
    return round(2 ** (round(math.log2(n) * GRID_PER_OCTAVE) / GRID_PER_OCTAVE))


def decay_start(total: int) -> int:
    """The step a schedule of ``total`` steps starts its cosine at."""
    return round(DECAY_FROM * total)


@dataclass
class Plan:
    """Where the count came from (for ``run.json`` and the log)."""

    steps: int
    decay_start: int  # the step where the cosine starts (0 with --epochs: all of the run)
    source: str  # "steps" | "epochs" | "minutes"
    seconds_per_step: float | None = None  # the speed the count was fixed from
    fixed_at: int | None = None  # the step it was fixed at (timed runs)
    remembered: bool = False  # a timed run's count from the first run of its setup

    def to_dict(self) -> dict:
        return {
            "steps": self.steps,
            "decay_start": self.decay_start,
            "from": self.source,
            "seconds_per_step": self.seconds_per_step,
            "fixed_at": self.fixed_at,
            **({"remembered": True} if self.remembered else {}),
        }

    def line(self, budget: float | None) -> str:
        if self.source != "minutes":
            return f"schedule: {self.steps} steps (from --{self.source})"
        if self.remembered:
            return (
                f"schedule: {self.steps} steps, as the first run of this setup on this machine "
                f"fixed them for a {budget / 60:g}-minute budget (the learning rate decays from "
                f"step {self.decay_start}): the same command repeats that run exactly; delete "
                f"{cache_path()} or give --steps N to choose again"
            )
        if self.seconds_per_step is None:
            return (
                f"schedule: the {budget / 60:g}-minute budget (or the epochs) ended after "
                f"{self.steps} steps, before the speed was measured"
            )
        return (
            f"schedule: {self.steps} steps, fixed at step {self.fixed_at} from "
            f"{self.seconds_per_step:.3g} s/step between {MARK_AT:.0%} and {REPLAN_AT:.0%} of "
            f"the {budget / 60:g}-minute budget (rounded to a grid); the learning rate decays "
            f"from step {self.decay_start}; from now on the clock does not change the run "
            "(--steps N fixes it from the start)"
        )


class StepBudget:
    """The run's length in steps and its schedule, kept in ``state`` (``planned_steps``,
    ``schedule_start`` = the decay start, ``speed_mark``) so a resume continues the same
    schedule."""

    def __init__(self, cfg: TrainConfig, steps_per_epoch: int, state: RunState) -> None:
        self.cfg = cfg
        self.budget = cfg.minutes * 60 if cfg.minutes and not cfg.steps else None
        self.epoch_steps = cfg.epochs * steps_per_epoch if cfg.epochs else None
        self.plan: Plan | None = None
        self.cache: StepCache | None = None  # where a fixed count is remembered
        if cfg.steps:
            self.plan = Plan(cfg.steps, decay_start(cfg.steps), "steps")
        elif self.budget is None and self.epoch_steps:
            self.plan = Plan(self.epoch_steps, 0, "epochs")
        self.attach(state)

    def attach(self, state: RunState) -> None:
        """Use ``state`` (a new run's or a resumed one's): a count known from the config is
        written into it; a measured one it holds (a resume) is kept."""
        self.state = state
        if self.plan is not None:
            state.planned_steps, state.schedule_start = self.plan.steps, self.plan.decay_start
        elif state.planned_steps:
            self.plan = Plan(state.planned_steps, state.schedule_start, "minutes")

    def remember(self, cache: StepCache | None) -> None:
        """A timed run that has not started: train the count the first run of its setup fixed
        (as that run did from its fix on, and identically before it); else measure and
        remember what is fixed."""
        if cache is None or self.plan is not None or self.state.step:
            return
        entry = cache.get()
        if entry is None:
            self.cache = cache
            return
        st = self.state
        st.planned_steps, st.schedule_start = entry["steps"], entry["decay_start"]
        self.plan = Plan(entry["steps"], entry["decay_start"], "minutes",
                         fixed_at=entry["fixed_at"], remembered=True)  # fmt: skip

    @property
    def measuring(self) -> bool:
        return not self.state.planned_steps

    def progress(self) -> float:
        """The run's progress 0..1 in steps (0 while a timed run is measuring)."""
        st, plan = self.state, self.plan
        if self.measuring or (plan is not None and st.step < (plan.fixed_at or 0)):
            return 0.0  # a timed run's progress is 0 until its count is fixed
        return min(1.0, st.step / max(1, st.planned_steps))

    def lr_factor(self) -> float:
        """The factor of ``cfg.lr`` for the next step."""
        st = self.state
        if self.plan is not None and self.plan.source == "epochs":
            return lr_factor(self.progress(), self.cfg)
        end = None if self.measuring else (st.schedule_start, st.planned_steps)
        known = self.cfg.steps if self.plan is not None and self.plan.source == "steps" else None
        return timed_lr_factor(st.step, self.cfg, end, known)

    def done(self) -> bool:
        return not self.measuring and self.state.step >= self.state.planned_steps

    def after_step(self) -> Plan | None:
        """Called after every step; returns the plan when a timed run fixes it at this step."""
        st = self.state
        if self.budget is None or not self.measuring:
            return None
        if st.elapsed >= self.budget or (self.epoch_steps and st.step >= self.epoch_steps):
            return self._fix(st.step, None)  # spent before it was measured: end here
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
        return self._fix(total, rate)

    def _fix(self, total: int, rate: float | None) -> Plan:
        st = self.state
        st.planned_steps = max(total, st.step, 1)
        decay = decay_start(st.planned_steps) if rate is not None else st.planned_steps
        st.schedule_start = max(decay, st.step)
        self.plan = Plan(st.planned_steps, st.schedule_start, "minutes", rate, st.step)
        if self.cache is not None and rate is not None:
            self.cache.put(st.planned_steps, st.schedule_start, st.step)
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
