"""What the commands do with runs: load a checkpoint back into its family, task and model.
The work is the Python API's (:mod:`regionlab.api`); this module adds the family's command
line (:class:`~regionlab.cli.taskcli.TaskCLI`)."""

from __future__ import annotations

from regionlab.api.training import summarise as summarise  # demo's summary, as train's
from regionlab.cli.tasks import TASKS


def load(ckpt_path: str):
    """``(TaskCLI, task, model in eval mode, RunCheckpoint)`` of a checkpoint file."""
    from regionlab.api.predictor import load_run

    task, model, ckpt = load_run(ckpt_path)
    return TASKS[task.name], task, model, ckpt
