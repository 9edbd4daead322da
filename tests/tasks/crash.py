"""A task wrapper that kills training at a given step, for the resume-exactness tests."""


class CrashAt:
    """``task`` whose ``at``-th training step raises ``KeyboardInterrupt`` (a killed run)."""

    def __init__(self, task, at: int) -> None:
        self.task, self.at, self.n = task, at, 0

    def __getattr__(self, k):
        return getattr(self.task, k)

    def step(self, model, batch, device):
        self.n += 1
        if self.n == self.at:
            raise KeyboardInterrupt("killed")
        return self.task.step(model, batch, device)
