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


def load(ckpt_path: str, exported: bool = False):
    """``(TaskCLI, task, model in eval mode, RunCheckpoint)`` of a checkpoint file; with
    ``exported``, an ``.onnx`` / TorchScript export loads too (its model an
    :class:`~regionlab.export.runtime.GraphModel`, no checkpoint: ``None``)."""
    from regionlab.engine.checkpoint import CheckpointError, RunCheckpoint
    from regionlab.engine.growing import model_from_checkpoint
    from regionlab.export.runtime import is_exported, load_exported

    if is_exported(ckpt_path):
        if not exported:
            raise ValueError(f"{ckpt_path} is an exported model: it only predicts "
                             "(regionlab predict); this command needs the run's checkpoint")  # fmt: skip
        ex = load_exported(ckpt_path)
        return TASKS[ex.task_name], ex.task, ex.model, None

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
