"""``regionlab.compare``: several models of one task, several seeds each, on the same splits,
scored by the same evaluator, into ``DIR/compare.json`` and a printed table.

``compare.json`` (read by ``regionlab report``; keep these keys)::

    {"kind": "compare", "task": "detect", "command": [...argv...],
     "provenance": {"regionlab", "commit", "dirty", "torch", "threads", "parallel", "machine",
                    ...: regionlab.provenance.provenance()},
     "split": {"report": "<how the reported split was made, n images>", "tune": "...",
               "train": "..."},
     "specs": {"report": SPEC, "tune": SPEC, "train": SPEC},   # the data specs of the splits
     "checkpoint": "best",            # which checkpoint the runs' metrics and table are of
     "main_metric": "AP",
     "runs": [{"model": "grid", "seed": 0, "dir": "runs/grid-s0",
               "status": "done|failed|skipped", "threads": 2, "commit": SHA,
               "seconds": 61.2, "steps": 300,
               "metrics": {...}, "checkpoints": {"best": {...}, "last": {...}},
               "error": "..."}],     # error: failed runs only
     "table": [{"model": "grid", "n": 3, "metrics": {"AP50": {"mean", "sd", "values"}},
                "within_noise": {"AP50": true, ...}}],   # comparison.stats
     "timing": {"wall_seconds": ..., "train_seconds": ..., "parallel": ...,
                "overhead": {"runs": ..., "seconds": ..., "fraction": ...}},   # timing()
     "failed": ["grid-s2", ...]}

``seconds`` is a run's training time (evaluation excluded), ``threads`` the torch threads its
process used (from its ``run.json``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from regionlab.comparison import peers as peer_check
from regionlab.comparison import reuse, scheduler, stats
from regionlab.comparison.plan import Job, parse_models, plan_jobs, plan_peer_jobs
from regionlab.comparison.splits import Splits, carve

CHECKPOINTS = ("best", "last")


def compare(
    task: str,
    data: str,
    *,
    models: str | list[str],
    val: str | None = None,
    seeds: int = 3,
    minutes: float | None = None,
    parallel: int = 1,
    threads: int | None = None,
    flags: str | list[str] = (),
    out: str | Path | None = None,
    report_fraction: float = 0.2,
    tune_fraction: float = 0.1,
    split_seed: int = 0,
    checkpoint: str = "best",
    reuse_runs: bool = False,
    allow_mixed_commits: bool = False,
    peers: list[str] = (),
    argv: list[str] | None = None,
    check_job: Callable[[Job], None] | None = None,
    report: bool = True,
    say=print,
) -> dict:
    """Train every ``models`` entry (``"grid,faster-rcnn[--size 320]"``, see
    :mod:`regionlab.comparison.plan`) with seeds ``0..seeds-1`` on ``data`` for ``task`` and
    return what ``OUT/compare.json`` holds (see the module docstring).

    Splits (:mod:`regionlab.comparison.splits`): numbers are on ``val`` when given, else on a
    held-out ``report_fraction`` of ``data`` that no run sees; each run chooses ``best.pt`` on
    a ``tune_fraction`` of ``data``. ``minutes``: each run's budget; ``parallel`` runs at a
    time with ``threads`` torch threads each (default: the cores shared out); ``flags``: train
    flags for every run (a string is split like a shell's). ``checkpoint``: which of each
    run's ``best`` / ``last`` the table is of. ``reuse_runs``: continue a comparison already
    in ``out`` (finished runs kept; runs from another commit refused unless
    ``allow_mixed_commits``). ``check_job``: called on every job before any runs (the command
    line checks each job's flags with it). Failed runs are recorded (``failed``), the rest go
    on. ``report``: also write ``OUT/report.html`` (:mod:`regionlab.report`; a failure only
    warns)."""
    import shlex

    from regionlab.api.builders import builder
    from regionlab.provenance import provenance

    _check_options(task, checkpoint, seeds, peers, minutes)
    threads = threads or max(1, (os.cpu_count() or 1) // max(parallel, 1))
    text = models if isinstance(models, str) else ",".join(models)
    entries = parse_models(text, has_model="model" in builder(task).defaults)
    if clash := sorted({e.label for e in entries} & set(peers)):
        raise ValueError(f"--models and --peers both name {', '.join(clash)}: relabel the model")
    flag_list = tuple(shlex.split(flags) if isinstance(flags, str) else flags)
    out = Path(out or f"runs/compare-{task}")
    reuse.check_folder(out, reuse=reuse_runs)
    splits = carve(data, val, out / "splits", report_fraction=report_fraction,
                   tune_fraction=tune_fraction, seed=split_seed)  # fmt: skip
    jobs = plan_jobs(task, entries, list(range(seeds)), train_spec=splits.train,
                     tune_spec=splits.tune, runs=(out / "runs").resolve(), threads=threads,
                     minutes=minutes, flags=flag_list)  # fmt: skip
    jobs += plan_peer_jobs(task, list(peers), list(range(seeds)), train_spec=splits.train,
                           tune_spec=splits.tune, report_spec=splits.report,
                           runs=(out / "runs").resolve(), threads=threads, minutes=minutes)  # fmt: skip
    for job in jobs:
        if check_job is not None and job.runner == "regionlab":
            check_job(job)
    prov = provenance(argv, threads=threads, parallel=parallel)
    reuse.check_runs(jobs, allow_mixed_commits=allow_mixed_commits, commit=prov["commit"],
                     dirty=prov["dirty"], say=say)  # fmt: skip
    say(f"compare {task}: {len(entries)} model(s) x {seeds} seed(s), {parallel} at a time, "
        f"{threads} thread(s) each; report split: {splits.notes['report']}")  # fmt: skip
    t0 = time.perf_counter()
    outcomes = scheduler.run_jobs(jobs, splits.report, out / "logs", parallel=parallel,
                                  threads=threads, say=say)  # fmt: skip
    wall = time.perf_counter() - t0
    result = _result(task, jobs, outcomes, out, checkpoint, splits)
    result.update(command=list(sys.argv if argv is None else argv), provenance=prov,
                  timing=timing(result["runs"], wall, parallel))  # fmt: skip
    _write(out, result, say)
    if report:
        _write_report(out, result, wall, parallel)
    return result


def _write_report(out: Path, result: dict, wall: float, parallel: int) -> None:
    """``report.html`` (a failure of the page only warns); its time is overhead too, so it is
    timed and ``compare.json``'s timing written again with it."""
    from regionlab.api.training import write_run_report

    t0 = time.perf_counter()
    write_run_report(out)
    result["timing"] = timing(result["runs"], wall, parallel, time.perf_counter() - t0)
    _write(out, result, None)


def _check_options(task: str, checkpoint: str, seeds: int, peers, minutes) -> None:
    if checkpoint not in CHECKPOINTS:
        raise ValueError(f"checkpoint must be one of {CHECKPOINTS}, got {checkpoint!r}")
    if seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {seeds}")
    peer_check.check_peers(list(peers), task)
    if peers and minutes is None:
        raise ValueError("--peers need --minutes: peers and ours train for the same time")


def timing(runs: list[dict], wall: float, parallel: int, report_seconds: float = 0.0) -> dict:
    """The comparison's time: ``wall_seconds`` of this call (the runs, the page after),
    ``train_seconds`` of every run counted, and ``overhead``: over the runs trained from
    scratch by this call, the wall time beyond their training (process starts, data checks,
    tune-split evaluations, scoring) plus ``report_seconds`` (writing ``report.html``), as
    seconds and as a fraction of their training seconds. ``idle_slot_seconds``: the time
    ``parallel`` slots stood empty while the runs' wall ran (jobs that do not share out
    evenly; a failed run's slot), not counted as overhead."""
    # (a run trained by an earlier call and only scored now counts its scoring alone: no)
    fresh = [r for r in runs if r["status"] == "done" and not r["resumed"] and r.get("seconds")
             and "train" in r.get("ran", ["train"])]  # fmt: skip
    train = sum(r["seconds"] for r in fresh)
    extra = sum(r["wall_seconds"] - r["seconds"] for r in fresh) + report_seconds
    busy = sum(r.get("wall_seconds") or 0 for r in runs)
    return {
        "wall_seconds": round(wall + report_seconds, 1),
        "train_seconds": round(sum(r.get("seconds") or 0 for r in runs), 1),
        "parallel": parallel,
        "idle_slot_seconds": round(max(0.0, wall * parallel - busy), 1),
        "overhead": {
            "runs": len(fresh),
            "seconds": round(extra, 1),
            "report_seconds": round(report_seconds, 1),
            "fraction": round(extra / train, 4) if train else None,
        },
    }


def _result(task: str, jobs: list[Job], outcomes: dict, out: Path, checkpoint: str,
            splits: Splits) -> dict:  # fmt: skip
    """``compare.json`` but for its command, provenance and timing."""
    from regionlab.api.families import family

    main = family(task).task_class().main_metric
    runs = [_run_entry(j, outcomes[j.name], out, checkpoint) for j in jobs]
    return {
        "kind": "compare",
        "task": task,
        "command": None,
        "provenance": None,
        "split": splits.notes,
        "specs": {"report": splits.report, "tune": splits.tune, "train": splits.train},
        "checkpoint": checkpoint,
        "main_metric": main,
        "runs": runs,
        "table": stats.table(runs, main),
        "timing": None,
        "failed": [j.name for j in jobs if outcomes[j.name].status == "failed"],
    }


def _write(out: Path, result: dict, say) -> None:
    """``compare.json`` (atomically) and, with ``say``, the printed table."""
    from regionlab.atomic import write_text_atomic

    write_text_atomic(out / "compare.json", json.dumps(result, indent=2) + "\n")
    if say is not None:
        say(f"\n{result['task']} on the report split ({result['checkpoint']}.pt of each run):")
        say(stats.format_table(result["table"]))
        say(f"wrote {out / 'compare.json'}")


def _run_entry(job: Job, outcome: scheduler.Outcome, out: Path, checkpoint: str) -> dict:
    """One ``runs`` entry of ``compare.json`` from the job's outcome and its folder."""
    facts = scheduler.run_facts(job.dir)
    scores = facts.get("scores", {})
    entry = {
        "model": job.label,
        "seed": job.seed,
        "dir": str(job.dir.relative_to(out.resolve())),
        "status": outcome.status,
        "threads": facts.get("threads"),
        "precision": facts.get("precision"),
        "commit": facts.get("commit"),
        "dirty": facts.get("dirty"),
        "seconds": facts.get("seconds"),
        "steps": facts.get("steps"),
        "wall_seconds": outcome.wall_seconds,
        "resumed": outcome.resumed,
        "ran": outcome.steps,  # what this call did: train, resume, score
        "metrics": scores.get(checkpoint) if outcome.status != "failed" else None,
        "checkpoints": scores,
    }
    if outcome.error:
        entry["error"] = outcome.error
    return entry
