"""The progress bar of a training run (tqdm, on a terminal only)."""

from __future__ import annotations

import sys
import time

from tqdm import tqdm

from regionlab.engine.state import RunState


class ProgressBar:
    """Steps of an epoch-length run (``total_steps``), or elapsed / ``budget`` seconds of a timed
    one (``total_steps=None``), with steps per second. Log lines go through :meth:`write`, so
    they print above the bar, never glued onto it."""

    def __init__(
        self, state: RunState, total_steps: int | None, budget: float | None, show: bool
    ) -> None:
        self.state, self.total_steps, self.budget = state, total_steps, budget
        self.timed = total_steps is None
        self.tqdm = tqdm(
            total=int(budget) if self.timed else total_steps,
            # Only on a terminal: in a log file the redraws would be glued to the log lines.
            disable=not (show and sys.stderr.isatty()),
            unit="s" if self.timed else "step",
            bar_format="{percentage:3.0f}%|{bar}| {desc}",
            dynamic_ncols=True,
            leave=False,
            mininterval=1.0,
        )
        self.start_step, self.t0 = state.step, time.perf_counter()
        self.tqdm.n = state.step if not self.timed else int(state.elapsed)

    @property
    def shown(self) -> bool:
        return not self.tqdm.disable

    def write(self, msg: str) -> None:
        self.tqdm.write(msg)

    def update(self, loss_value: float) -> None:
        st = self.state
        rate = (st.step - self.start_step) / max(time.perf_counter() - self.t0, 1e-9)
        where = (
            f"{st.elapsed:.0f}/{self.budget:.0f} s"
            if self.timed
            else f"step {st.step}/{self.total_steps}"
        )
        self.tqdm.set_description_str(
            f"{where}, {rate:.2f} steps/s, epoch {st.epoch}, loss {loss_value:.4f}",
            refresh=False,
        )
        pos = min(int(st.elapsed), self.tqdm.total) if self.timed else st.step
        self.tqdm.update(pos - self.tqdm.n)

    def close(self) -> None:
        self.tqdm.close()
