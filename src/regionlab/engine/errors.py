"""Errors of the training engine that a user can act on (no torch import, for the CLI)."""

from __future__ import annotations

import signal


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN/inf loss; the last good checkpoint is left as it was."""


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
