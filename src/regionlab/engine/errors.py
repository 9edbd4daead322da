"""Errors of the training engine that a user can act on (no torch import, for the CLI)."""

from __future__ import annotations

import math
import signal


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN/inf loss or gradient; the last good checkpoint is left as it
    was (the step's update is not applied)."""

    @classmethod
    def at(cls, loss: float, norm: float, state, batch: int, samples, last) -> NonFiniteLossError:
        what = f"loss ({loss})" if not math.isfinite(loss) else f"gradient norm ({norm})"
        kept = f"last good checkpoint: {last}" if last.exists() else f"no {last.name} yet"
        return cls(f"non-finite {what} at step {state.step} (epoch {state.epoch}, batch "
                   f"{batch}, samples {samples}); {kept}")  # fmt: skip


class Preempted(Exception):  # noqa: N818 - a stop on request, not an error of the run
    """The run stopped on a signal (SIGTERM, SIGINT) after finishing its current step and
    writing ``checkpoint`` (``None`` when the run writes no checkpoints); continue it with
    ``resume=True`` (``--resume``). :attr:`exit_status` is ``128 + signum``: 143 for SIGTERM,
    130 for SIGINT, what the command line exits with."""

    def __init__(self, signum: int, step: int, checkpoint: str | None) -> None:
        self.signum, self.step, self.checkpoint = int(signum), step, checkpoint
        self.exit_status = 128 + self.signum
        name = signal.Signals(self.signum).name
        saved = f"{checkpoint} written" if checkpoint else "no checkpoint written (checkpoints off)"
        super().__init__(f"preempted by {name} at step {step}; {saved}")
