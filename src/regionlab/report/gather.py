"""What a report reads from disk: a training run folder (``run.json``, ``metrics.jsonl``,
``metrics.json``, ``best.pt`` / ``last.pt``) or a compare folder (``compare.json`` naming run
folders). Nothing here runs a model; :mod:`regionlab.report.predict` does.

Every value comes from files a user (or their data) wrote, so the page escapes all of it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from regionlab.engine.metrics_log import read_rows

RUN_FILES = ("run.json", "metrics.jsonl", "metrics.json")


@dataclass
class RunFolder:
    """One training run. ``label``: how the page names it (a compare's ``model`` and seed, else
    the folder's name); ``record``: ``run.json`` (``{}`` when missing); ``rows``:
    ``metrics.jsonl``; ``summary``: ``metrics.json``; ``status``: a compare's ``done`` |
    ``failed`` | ``skipped`` (finished by an earlier compare and reused: as good as done; a
    plain run: ``done``)."""

    label: str
    path: Path
    record: dict = field(default_factory=dict)
    rows: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    status: str = "done"
    model: str = ""  # a compare's model name (the table's row); a plain run: its label

    @property
    def finished(self) -> bool:
        return self.status in ("done", "skipped")

    @property
    def task(self) -> str:
        return str(self.record.get("task") or self.summary.get("task") or "")

    @property
    def classes(self) -> list[str]:
        return [
            str(c)
            for c in self.record.get("classes") or self.summary.get("spec", {}).get("classes") or []
        ]

    @property
    def images_per_step(self) -> int | None:
        """Images of one optimisation step over every process (``batch_size`` x ``world``)."""
        cfg = self.record.get("config") or self.summary.get("config") or {}
        batch = cfg.get("batch_size")
        world = (self.record.get("runtime") or {}).get("world") or 1
        return int(batch) * int(world) if isinstance(batch, int) else None

    def checkpoint(self) -> Path | None:
        """``best.pt`` (best validation score), else ``last.pt``, else ``None``."""
        for name in ("best.pt", "last.pt"):
            if (self.path / name).is_file():
                return self.path / name
        return None

    def predictions_file(self) -> Path | None:
        """A peer's stored predictions of the report images (``predictions.json``, written by
        :mod:`regionlab.comparison.peer_run`), else ``None``."""
        path = self.path / "predictions.json"
        return path if path.is_file() else None

    def curve(self, metric: str, x: str) -> list[tuple[float, float]]:
        """Validation ``metric`` against ``x``: ``"time"`` (training seconds), ``"images"``
        (images seen) or ``"step"``; non-finite values left out."""
        per = self.images_per_step
        out = []
        for r in self.rows:
            if r.get("split") != "val" or not _finite(r.get(metric)):
                continue
            if x == "images":
                if per is None or "step" not in r:
                    continue
                out.append((float(r["step"] * per), float(r[metric])))
            elif x in r:
                out.append((float(r[x]), float(r[metric])))
        return out

    def train_images_per_second(self) -> float | None:
        """Images per training second at the last logged training row; a peer (no rows): the
        images it saw over its training seconds (``metrics.json``)."""
        per = self.images_per_step
        rows = [r for r in self.rows if r.get("split") == "train" and r.get("time")]
        if per is None or not rows or not rows[-1].get("step"):
            seen, seconds = self.summary.get("train_images"), self.summary.get("train_seconds")
            if _finite(seen) and _finite(seconds) and seen > 0 and seconds > 0:
                return seen / seconds
            return None
        return rows[-1]["step"] * per / rows[-1]["time"]

    def peak_memory_mb(self, key: str = "peak_rss_mb") -> float | None:
        """The largest ``key`` (``peak_rss_mb``: sampled during training steps;
        ``peak_cuda_mb``: CUDA's peak allocation) any row records."""
        peaks = [m[key] for r in self.rows
                 if isinstance(m := r.get("memory"), dict) and _finite(m.get(key))]  # fmt: skip
        return max(peaks) if peaks else None

    def final_metrics(self) -> dict:
        """The summary's last evaluation, else the last validation row."""
        if isinstance(self.summary.get("final"), dict):
            return self.summary["final"]
        vals = [r for r in self.rows if r.get("split") == "val"]
        return vals[-1] if vals else {}


@dataclass
class Gathered:
    """A report's input. ``kind``: ``"run"`` | ``"compare"``; ``compare``: ``compare.json``
    (``None`` for a run); ``main_metric``: the metric of the table and the curves."""

    kind: str
    folder: Path
    task: str
    runs: list[RunFolder]
    main_metric: str
    compare: dict | None = None
    problems: list[str] = field(default_factory=list)  # shown on the page, never hidden


def _finite(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: unreadable ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def read_run(
    path: Path, label: str | None = None, status: str = "done", model: str = ""
) -> RunFolder:
    """A run folder; a missing file is an empty value (a failed run may have none)."""
    path = Path(path)
    record = _read_json(path / "run.json") if (path / "run.json").is_file() else {}
    summary = _read_json(path / "metrics.json") if (path / "metrics.json").is_file() else {}
    try:
        rows = read_rows(path / "metrics.jsonl")
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path / 'metrics.jsonl'}: unreadable ({e})") from None
    label = label or path.name
    return RunFolder(label, path, record, rows, summary, status, model or label)


def _run_dir(folder: Path, entry: dict, i: int) -> Path:
    d = entry.get("dir")
    if not isinstance(d, str) or not d:
        raise ValueError(f"{folder / 'compare.json'}: runs[{i}] has no 'dir'")
    p = Path(d)
    if p.is_absolute():
        return p
    # relative to the compare folder, else to where the compare ran
    return folder / p if (folder / p).exists() or not p.exists() else p


def main_metric_of(task: str, runs: list[RunFolder]) -> str:
    """The task's main metric (its task class says), else the first metric of a val row."""
    from regionlab.api.families import FAMILIES

    if task in FAMILIES:
        return FAMILIES[task].task_class().main_metric
    for run in runs:
        for r in run.rows:
            if r.get("split") == "val":
                keys = [k for k in r if k not in ("epoch", "step", "split", "time", "loss")]
                if keys:
                    return keys[0]
    return "loss"


def gather(folder: str | Path) -> Gathered:
    """Read a compare folder (``compare.json``) or a training run folder; anything else is an
    error naming the folder and what it lacks."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder (a run or compare folder)")
    if (folder / "compare.json").is_file():
        return _gather_compare(folder)
    if not any((folder / f).is_file() for f in RUN_FILES):
        raise ValueError(
            f"{folder}: neither a run folder ({', '.join(RUN_FILES)}) nor a compare folder "
            "(compare.json)"
        )
    run = read_run(folder)
    return Gathered("run", folder, run.task, [run], main_metric_of(run.task, [run]))


def _gather_compare(folder: Path) -> Gathered:
    data = _read_json(folder / "compare.json")
    entries = data.get("runs")
    if not isinstance(entries, list):
        raise ValueError(f"{folder / 'compare.json'}: 'runs' must be a list")
    runs, problems = [], []
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise ValueError(f"{folder / 'compare.json'}: runs[{i}] is not an object")
        model = str(e.get("model", f"run {i}"))
        label = f"{model} (seed {e['seed']})" if "seed" in e else model
        path = _run_dir(folder, e, i)
        status = str(e.get("status", "done"))
        if path.is_dir():
            runs.append(read_run(path, label, status, model))
        else:
            problems.append(f"{label}: run folder {path} is missing ({status})")
            runs.append(RunFolder(label, path, status=status, model=model))
    task = str(data.get("task") or next((r.task for r in runs if r.task), ""))
    metric = str(data.get("main_metric") or main_metric_of(task, runs))
    return Gathered("compare", folder, task, runs, metric, data, problems)
