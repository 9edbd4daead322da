"""When a run evaluates (and so writes ``last.pt`` and maybe ``best.pt``) at an epoch's end.

``eval_every=N`` given: every N-th epoch, as asked. Unset (the default): at the first epoch end
after each further ``1 / EVALS_PER_RUN`` of the run, so a run is scored about that many times
whatever its epochs hold. Per epoch, as before, a 12-image set (3 steps an epoch at batch 4)
was scored and saved 885 times in a 3-minute run of 2,656 steps, a third more wall time than
its training, and ``best.pt`` was picked among 885 noisy scores of 4 images.

The gap is counted in steps, a twentieth of the run's fixed count, so the same command
evaluates at the same steps (a resumed run too, and one resumed with a longer length spaces the
rest by its new count). While a timed run still measures its speed (its first 30%,
:mod:`regionlab.engine.budget`) there is no count yet: the gap is the steps that took a
twentieth of the budget's training seconds at the run's mean speed so far (the state keeps
steps only, so a resumed run's state equals the uninterrupted one's). Nothing here knows which
task it runs.
"""

from __future__ import annotations

from regionlab.engine.config import TrainConfig
from regionlab.engine.state import RunState

EVALS_PER_RUN = 20  # enough points for a learning curve and a choice of best.pt
_EPS = 1e-9  # 1/20 of 20 epochs is one epoch, exactly, in floating point too

__all__ = ["EVALS_PER_RUN", "eval_due"]


def eval_due(cfg: TrainConfig, state: RunState, budget_seconds: float | None) -> bool:
    """At the end of epoch ``state.epoch`` (counted from 1 here: the state already points at the
    next): evaluate? ``budget_seconds``: a timed run's budget."""
    if cfg.eval_every:
        return state.epoch % cfg.eval_every == 0
    since = state.step - state.evaluated_step
    if state.planned_steps:
        return since >= state.planned_steps / EVALS_PER_RUN - _EPS
    if not budget_seconds or not state.step:
        return False
    return since * state.elapsed / state.step >= budget_seconds / EVALS_PER_RUN
