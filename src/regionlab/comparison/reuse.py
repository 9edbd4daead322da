"""Whether a comparison may go on in a folder that already holds runs (``--reuse``).

Nothing is overwritten or mixed silently: without ``--reuse`` a folder with runs is refused;
with it, every run already there must have been started by the same command this comparison
would give it (same data, splits, flags, seed, threads) and, unless ``--allow-mixed-commits``,
from the same regionlab commit as this one, with or without uncommitted changes as this one. All problems are listed at once, before anything
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


def check_runs(jobs: list[Job], *, allow_mixed_commits: bool, commit: str | None,
               dirty: bool | None = False, say=print) -> None:  # fmt: skip
    """Raise ``ValueError`` listing every started run that may not be continued or counted.

    A commit names the code only with a clean tree: a run from the same commit as this
    comparison but only one of them with uncommitted changes ran other code, and is refused
    like another commit; both with uncommitted changes cannot be told apart, and are counted
    with a warning."""
    started = [j for j in jobs if (j.dir / "run.json").exists()]
    problems, unsure = [], []
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
        git = rec.get("git") or {}
        theirs, their_dirty = git.get("commit"), bool(git.get("dirty"))
        if allow_mixed_commits:
            continue
        if theirs != commit:
            problems.append(
                f"{j.dir}: trained at commit {theirs}, this is {commit} "
                "(--allow-mixed-commits counts it anyway)"
            )
        elif their_dirty != bool(dirty):
            which = "it was" if their_dirty else "this comparison is"
            problems.append(
                f"{j.dir}: trained at this commit ({commit}), but {which} run from a tree with "
                "uncommitted changes, so their code differs (--allow-mixed-commits counts it "
                "anyway)"
            )
        elif their_dirty:
            unsure.append(j.name)
    if unsure:
        say(f"  note: {', '.join(unsure)} and this comparison both ran from uncommitted "
            f"changes at {commit}: whether they ran the same code cannot be told")  # fmt: skip
    if problems:
        raise ValueError("cannot reuse these runs:\n  - " + "\n  - ".join(problems))
