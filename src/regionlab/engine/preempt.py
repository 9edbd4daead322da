"""Stopping a run cleanly when asked to: SIGTERM (how clusters and spot machines preempt a job)
or SIGINT (Ctrl-C).

:class:`StopSignals` installs handlers that only record the signal; the loop looks at it after
each optimisation step (all processes of a torchrun job agree on it, see
:meth:`regionlab.engine.run.Run.agree_clock`), writes ``last.pt`` and raises
:class:`~regionlab.engine.errors.Preempted`. A second signal while the run is stopping acts as
if no handler were installed (Ctrl-C twice interrupts at once). The previous handlers are put
back when the run ends, so a notebook or program that calls :func:`regionlab.train` keeps its
own.

No torch here: the command line maps :class:`Preempted` to its exit status without it.
"""

from __future__ import annotations

import signal
import threading

# The signals that ask a run to stop; each maps to the conventional status 128 + signal number
# (SIGTERM 143, SIGINT 130), the status of a process that the signal itself would have ended.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def exit_status(signum: int) -> int:
    """The process exit status of a run stopped by ``signum``: ``128 + signum``."""
    return 128 + int(signum)


class StopSignals:
    """Context manager: while inside, SIGTERM and SIGINT set :attr:`signum` instead of ending
    the process. Outside the main thread (where Python cannot install handlers) it does
    nothing and :attr:`signum` stays ``None``."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for s in STOP_SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        self._restore()

    def _handle(self, signum: int, frame) -> None:
        if self.signum is None:
            self.signum = signum
            return
        # Asked twice: do what the process did before us (Ctrl-C: KeyboardInterrupt now).
        self._restore()
        signal.raise_signal(signum)

    def _restore(self) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}
