"""Whether a comparison may go on in a folder that already holds runs (``--reuse``).

Nothing is overwritten or mixed silently: without ``--reuse`` a folder with runs is refused;
with it, every run already there must have been started by the same command this comparison
would give it (same data, splits, flags, seed, threads) and, unless ``--allow-mixed-commits``,
from the same regionlab commit as this one. All problems are listed at once, before anything
runs.
"""

from __future__ import annotations

import json
from pathlib import Path

from regionlab.comparison.plan import Job
from regionlab.provenance import command_line


def expected_command(job: Job) -> str:
    """The ``command`` a job's ``run.json`` records (its first session, without ``--resume``)."""
    return command_line(["python", "-m", job.runner, *job.argv])


def check_folder(out: Path, *, reuse: bool) -> None:
    """Without ``reuse``, a folder that holds a comparison (runs, splits or ``compare.json``)
    is refused."""
    held = [p for p in ("runs", "splits", "compare.json") if (out / p).exists()]
    if held and not reuse:
        raise ValueError(
            f"{out} already holds a comparison ({', '.join(held)}); pass --reuse to continue it "
            "(finished runs are kept, unfinished ones resumed), or choose another --out"
        )


def check_runs(jobs: list[Job], *, allow_mixed_commits: bool, commit: str | None) -> None:
    """Raise ``ValueError`` listing every started run that may not be continued or counted."""
    started = [j for j in jobs if (j.dir / "run.json").exists()]
    problems = []
    for j in started:
        try:
            rec = json.loads((j.dir / "run.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            problems.append(f"{j.dir}/run.json: unreadable ({e})")
            continue
        if rec.get("command") != expected_command(j):
            problems.append(
                f"{j.dir}: started by another command than this comparison gives it:\n"
                f"      was: {rec.get('command')}\n      now: {expected_command(j)}"
            )
        theirs = (rec.get("git") or {}).get("commit")
        if theirs != commit and not allow_mixed_commits:
            problems.append(
                f"{j.dir}: trained at commit {theirs}, this is {commit} "
                "(--allow-mixed-commits counts it anyway)"
            )
    if problems:
        raise ValueError("cannot reuse these runs:\n  - " + "\n  - ".join(problems))
