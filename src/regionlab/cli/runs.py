"""What the commands do with runs: summarise a finished one, load a checkpoint back into its
task and model, and pick the device."""

from __future__ import annotations

import json
from pathlib import Path

from regionlab.cli.tasks import TASKS


def summarise(out: Path, result, task, cfg, extra: dict | None = None) -> None:
    """``metrics.json`` and ``learning_curve.png`` of a finished run (rank 0 only)."""
    from regionlab.atomic import write_text_atomic
    from regionlab.engine.metrics_log import read_rows, series
    from regionlab.viz.plots import learning_curve

    rows = read_rows(out / "metrics.jsonl")
    learning_curve(
        series(rows, "train", "loss"),
        {f"val {task.main_metric}": series(rows, "val", task.main_metric)},
        out / "learning_curve.png",
        val_loss=series(rows, "val", "loss"),
        title=f"{task.name}: {out.name}",
    )
    summary = {
        "task": task.name,
        "spec": task.spec_dict(),
        "config": cfg.to_dict(),
        "steps": result.steps,
        "train_seconds": round(result.seconds, 1),
        "final": result.metrics,
        "best": result.best,
        **({"growth_not_applied": result.growth_not_applied} if result.growth_not_applied else {}),
        **(extra or {}),
    }
    write_text_atomic(out / "metrics.json", json.dumps(summary, indent=2))


def load(ckpt_path: str):
    """``(TaskCLI, task, model in eval mode, RunCheckpoint)`` of a checkpoint file."""
    from regionlab.engine.checkpoint import CheckpointError, RunCheckpoint
    from regionlab.engine.growing import model_from_checkpoint

    ckpt = RunCheckpoint.load(ckpt_path)
    cli = TASKS.get(ckpt.task)
    if cli is None:
        raise CheckpointError(f"{ckpt_path}: unknown task {ckpt.task!r}")
    task = cli.task_class().from_spec_dict(ckpt.spec)
    model = model_from_checkpoint(task, ckpt)
    model.eval()
    return cli, task, model, ckpt


def device(name: str | None):
    """``--device``: ``auto`` (or none) is CUDA when there is one, else the CPU."""
    import torch

    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
