"""Run a comparison's jobs: each an ordinary ``python -m regionlab train`` process in its own
folder, ``parallel`` at a time, each with ``threads`` torch threads (``--threads`` and
``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS``), then scored on the report split by
``python -m regionlab.comparison.score`` with the same threads. A peer's job runs
``python -m regionlab.comparison.peer_run`` instead, which scores itself.

Resume: a run with ``metrics.json`` (written when training ends) is not trained again, one with
``scores.json`` is not scored again; an unfinished run with a ``last.pt`` continues with
``--resume``; a folder with neither (killed before its first checkpoint) is moved aside to
``<name>.stale-K`` (kept, never deleted) and the run starts over. A run that fails is recorded
with the tail of its log and the others go on. Each job's output is appended to
``DIR/logs/<name>.log``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from regionlab.comparison.plan import Job
from regionlab.comparison.score import NAME as SCORES

FINISHED = "metrics.json"  # written by regionlab.train at the very end of a run
TAIL_LINES = 15


@dataclass
class Outcome:
    """What happened to one job in this invocation. ``status``: ``done`` (trained now),
    ``skipped`` (finished by an earlier invocation) or ``failed`` (``error``: its log's tail);
    ``wall_seconds``: this invocation's time on it (training and scoring)."""

    name: str
    status: str
    wall_seconds: float = 0.0
    resumed: bool = False
    error: str | None = None
    steps: list[str] = field(default_factory=list)  # what ran: "train", "resume", "score"


def job_env(threads: int) -> dict[str, str]:
    """The environment of a job: this one with the thread counts set (torch reads
    ``OMP_NUM_THREADS`` when it starts; ``--threads`` sets it again in the run)."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return env


def _call(argv: list[str], log: Path, env: dict) -> tuple[int, str]:
    """Run ``python argv`` with output appended to ``log``; ``(return code, log tail)``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as f:
        f.write(f"\n$ python {' '.join(argv)}\n")
        f.flush()
        rc = subprocess.call([sys.executable, *argv], stdout=f, stderr=subprocess.STDOUT, env=env)
    if rc == 0:
        return 0, ""
    lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return rc, "\n".join(lines[-TAIL_LINES:])


def _set_aside(folder: Path) -> Path:
    k = 1
    while folder.with_name(f"{folder.name}.stale-{k}").exists():
        k += 1
    target = folder.with_name(f"{folder.name}.stale-{k}")
    folder.rename(target)
    return target


def run_job(job: Job, report_spec: str, logs: Path, env: dict, say=print) -> Outcome:
    """Train (or resume, or skip) and score one job; see the module docstring."""
    d, log = job.dir, logs / f"{job.name}.log"
    out = Outcome(job.name, "done")
    t0 = time.perf_counter()
    scored = _json(d / SCORES)
    if scored is not None and scored.get("spec") != report_spec:  # (another --val before)
        say(f"  {job.name}: its scores are of {scored.get('spec')}; scoring it on {report_spec}")
        scored = None
    if (d / FINISHED).exists() and scored is not None:
        out.status = "skipped"
        return out
    if not (d / FINISHED).exists():
        argv = ["-m", job.runner, *job.argv]
        if job.runner == "regionlab" and (d / "last.pt").exists():
            argv.append("--resume")
            out.resumed = True
        elif d.exists() and any(d.iterdir()):
            say(f"  {job.name}: no checkpoint to resume; the earlier attempt is kept in "
                f"{_set_aside(d).name}")  # fmt: skip
        say(f"  {'resuming' if out.resumed else 'training'} {job.name}")
        out.steps.append("resume" if out.resumed else "train")
        rc, tail = _call(argv, log, env)
        if rc != 0:
            out.status, out.error = "failed", f"training exited with code {rc}:\n{tail}"
    # a peer run scores itself as it trains; a run finished before is scored unless it was
    # on this report split
    unscored = not (d / SCORES).exists() if out.steps else scored is None
    if out.status != "failed" and unscored:
        out.steps.append("score")
        rc, tail = _call(["-m", "regionlab.comparison.score", str(d), report_spec], log, env)
        if rc != 0:
            out.status, out.error = "failed", f"scoring exited with code {rc}:\n{tail}"
    out.wall_seconds = round(time.perf_counter() - t0, 2)
    say(f"  {job.name}: {out.status} ({out.wall_seconds:.0f} s)"
        + (f"\n    {out.error.splitlines()[-1]}" if out.error else ""))  # fmt: skip
    return out


def run_jobs(
    jobs: list[Job], report_spec: str, logs: Path, *, parallel: int, threads: int, say=print
) -> dict[str, Outcome]:
    """Every job, ``parallel`` at a time in the order given; ``{job name: Outcome}``."""
    if parallel < 1 or threads < 1:
        raise ValueError(f"--parallel and --threads must be >= 1, got {parallel} and {threads}")
    env = job_env(threads)
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        futures = [pool.submit(run_job, j, report_spec, logs, env, say) for j in jobs]
        return {j.name: f.result() for j, f in zip(jobs, futures)}


def run_facts(folder: Path) -> dict:
    """What a run folder says of itself: the training summary's ``train_seconds`` and
    ``steps``, the torch threads and the step's precision its last session used
    (``run.json``), and the scores."""
    facts: dict = {}
    rec = _json(folder / "run.json")
    if rec:
        last = (rec.get("resumes") or [rec])[-1]
        runtime = last.get("runtime") or rec.get("runtime") or {}
        facts["threads"] = runtime.get("threads")
        facts["precision"] = (runtime.get("precision") or {}).get("name")
        facts["commit"] = (rec.get("git") or {}).get("commit")
        facts["dirty"] = (rec.get("git") or {}).get("dirty")  # uncommitted changes when it ran
    summary = _json(folder / FINISHED)
    if summary:
        facts["seconds"] = summary.get("train_seconds")
        facts["steps"] = summary.get("steps")
    scores = _json(folder / SCORES)
    if scores:
        facts["scores"] = scores.get("checkpoints", {})
        facts["score_seconds"] = scores.get("seconds")
    return facts


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
