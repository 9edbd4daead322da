"""Where a training run stands: the part of a checkpoint that a resume continues from.

Stored in checkpoints as a plain dict (``to_dict``) so ``torch.load(weights_only=True)`` reads it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields


@dataclass
class RunState:
    """The counters and results of one run; everything else a resume needs is in the checkpoint.

    ``batch`` is the next batch of epoch ``epoch`` (0: the epoch has not started), so a run killed
    mid-epoch resumes at the same sample. ``epoch_progress`` is the schedule's progress (0..1) at
    the start of the current epoch; augmentation strength reads it, so a resumed epoch augments
    exactly as the uninterrupted one did.
    """

    epoch: int = 0
    batch: int = 0  # batches of the current epoch already trained
    step: int = 0  # optimisation steps over the whole run
    elapsed: float = 0.0  # training seconds (evaluation excluded)
    best: dict | None = None  # the best evaluation by the task's main metric
    last_eval: dict | None = None
    grown: int = 0  # steps of the growth schedule applied
    epoch_progress: float = 0.0
    planned_steps: int = 0  # the run's length in steps once fixed (0: still measuring)
    schedule_start: int = 0  # a timed run's step where the LR decay starts (engine/budget.py)
    # a timed run's (step, training seconds) where its speed measurement starts
    speed_mark: list[float] | None = None
    # lines of metrics.jsonl when the state was saved (None: not counted, an older file); a
    # resume drops the lines an interrupted attempt wrote after its last checkpoint
    metrics_rows: int | None = None
    evaluated_step: int = 0  # the step of the last evaluation: the next is due from it (cadence)

    def to_dict(self) -> dict:
        d = asdict(self)
        for key, unset in (("metrics_rows", None), ("speed_mark", None), ("evaluated_step", 0)):
            if d[key] == unset:  # as an older file was written (its round trip stays equal)
                del d[key]
        return d

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "run state") -> RunState:
        """The state a checkpoint stores; keys it lacks keep their defaults (older files)."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: run state must be a dict, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{source}: unknown run state key(s) {', '.join(unknown)}")
        state = cls(**data)
        for name, kinds, what in _CHECKS:
            value = getattr(state, name)
            if isinstance(value, bool) or not isinstance(value, kinds) or _negative(value):
                raise ValueError(f"{source}: run state {name} must be {what}, got {value!r}")
        mark = state.speed_mark
        if mark is not None and (len(mark) != 2 or not all(_number(v) for v in mark)):
            raise ValueError(f"{source}: run state speed_mark must be a [step, seconds] pair, "
                             f"got {mark!r}")  # fmt: skip
        return state


_COUNTERS = ("epoch", "batch", "step", "grown", "planned_steps", "schedule_start", "evaluated_step")
_CHECKS = [
    *((n, int, "an integer >= 0") for n in _COUNTERS),
    *((n, (int, float), "a number >= 0") for n in ("elapsed", "epoch_progress")),
    *((n, (dict, type(None)), "a dict of metrics or None") for n in ("best", "last_eval")),
    ("metrics_rows", (int, type(None)), "an integer >= 0 or None"),
    ("speed_mark", (list, type(None)), "a [step, seconds] pair or None"),
]


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def _negative(value) -> bool:
    return isinstance(value, int | float) and value < 0


def improves(value: float | None, best: dict | None, metric: str) -> bool:
    """Whether an evaluation's ``metric`` ``value`` beats ``best`` (the best evaluation so far):
    a first number always does; NaN (AP with no ground truth, mIoU of ignored pixels only) only
    as the first, and any number beats a NaN best, else a NaN would hold ``best.pt`` for good."""
    if value is None:
        return False
    old = None if best is None else best.get(metric)
    if old is None or (isinstance(old, float) and math.isnan(old)):
        return old is None or not math.isnan(value)
    return not math.isnan(value) and value > old
