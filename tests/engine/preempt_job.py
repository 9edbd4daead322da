"""``regionlab`` (its command line, arguments after the first two) with a real SIGTERM sent to
this process while optimisation step ``STEP`` runs, in the process of rank ``RANK`` only: a
preemption at a known step, for tests (alone or under torchrun)::

    python preempt_job.py STEP RANK train segment ...
"""

import signal
import sys

from regionlab.cli.main import main
from regionlab.engine.run import Run

STEP, RANK = int(sys.argv[1]), int(sys.argv[2])
_step = Run.step


def step_then_signal(self, *args):
    out = _step(self, *args)
    if self.state.step + 1 == STEP and self.rt.rank == RANK:
        signal.raise_signal(signal.SIGTERM)
    return out


Run.step = step_then_signal

if __name__ == "__main__":
    sys.exit(main(sys.argv[3:]))
