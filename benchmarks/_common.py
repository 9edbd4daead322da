"""Helpers shared by the benchmark scripts (not part of the library)."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
RESULTS = ROOT / "benchmarks" / "results"


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
    }


def save(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **data}, indent=2))
    print(f"saved {path}")
    return path


def val_curve(run: Path, metric: str) -> list[tuple[float, float]]:
    """``(training seconds, validation metric)`` of a run folder's ``metrics.jsonl``."""
    from regionlab.engine.metrics_log import read_rows, series

    return series(read_rows(Path(run) / "metrics.jsonl"), "val", metric, x="time")
