"""What a comparison runs: the ``--models`` entries, and one training job per (entry, seed).

An entry is ``[LABEL=]MODEL[FLAGS]``: ``grid``, ``faster-rcnn[--size 320 --no-fpn]``,
``small=grid[--size 64]``. ``MODEL`` goes to ``--model`` for the tasks that have one (segment,
detect, instance); for the others it is only a label and the flags make the difference
(``compare caption --models lstm[--cell lstm],gru[--cell gru]``). ``LABEL`` (default ``MODEL``)
names the runs, ``runs/<LABEL>-s<SEED>``. Flags given to every entry (``--flags``) come first,
an entry's own after them, so the entry's win. No torch at import.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

_ENTRY = re.compile(r"^(?:(?P<label>[\w.-]+)=)?(?P<model>[\w.-]+)(?:\[(?P<flags>[^\[\]]*)\])?$")
# flags the comparison sets itself for every run; an entry may not change them
OWN_FLAGS = ("--data", "--val", "--val-fraction", "--seed", "--threads", "--out", "--resume")


@dataclass(frozen=True)
class Entry:
    """One contender: ``label`` names its runs, ``model`` is its ``--model`` (``None``: the
    task has no ``--model``), ``flags`` its own training flags."""

    label: str
    model: str | None
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Job:
    """One training run of a comparison: ``python -m RUNNER *argv`` (``regionlab``: a
    ``train``; :mod:`regionlab.comparison.peer_run`: a peer)."""

    label: str
    seed: int
    dir: Path
    argv: tuple[str, ...]
    runner: str = "regionlab"

    @property
    def name(self) -> str:
        return f"{self.label}-s{self.seed}"


def split_entries(text: str) -> list[str]:
    """``"a,b[--x 1,2],c"`` -> ``["a", "b[--x 1,2]", "c"]``: commas inside brackets stay."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if depth < 0 or depth > 1:
            raise ValueError(f"--models {text!r}: unbalanced brackets")
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if depth:
        raise ValueError(f"--models {text!r}: a '[' is never closed")
    parts.append(cur.strip())
    return [p for p in parts if p]


def parse_models(text: str, has_model: bool) -> list[Entry]:
    """The ``--models`` value -> entries; an error naming a malformed or repeated entry, or a
    flag the comparison sets itself."""
    entries = []
    for item in split_entries(text):
        m = _ENTRY.match(item)
        if m is None:
            raise ValueError(
                f"--models entry {item!r}: expected [LABEL=]MODEL[FLAGS], e.g. "
                "faster-rcnn[--size 320] or small=grid[--size 64]"
            )
        flags = tuple(shlex.split(m["flags"] or ""))
        check_flags(flags, f"--models entry {item!r}")
        model = m["model"]
        entries.append(Entry(m["label"] or model, model if has_model else None, flags))
    if not entries:
        raise ValueError("--models: no model given")
    labels = [e.label for e in entries]
    twice = sorted({x for x in labels if labels.count(x) > 1})
    if twice:
        raise ValueError(
            f"--models: {', '.join(twice)} given twice; label each, e.g. small={twice[0]}[...]"
        )
    return entries


def check_flags(flags: tuple[str, ...] | list[str], where: str) -> None:
    own = sorted({f.split("=")[0] for f in flags} & set(OWN_FLAGS))
    if own:
        raise ValueError(f"{where}: {', '.join(own)} is set by the comparison for every run")


def plan_jobs(
    task: str,
    entries: list[Entry],
    seeds: list[int],
    *,
    train_spec: str,
    tune_spec: str,
    runs: Path,
    threads: int,
    minutes: float | None,
    flags: tuple[str, ...] = (),
) -> list[Job]:
    """One :class:`Job` per (entry, seed), entries first: every seed of the first entry, then
    the next (so a short comparison still finishes whole models)."""
    check_flags(flags, "--flags")
    jobs = []
    for e in entries:
        for s in seeds:
            out = runs / f"{e.label}-s{s}"
            argv = ["train", task, "--data", train_spec, "--val", tune_spec, "--seed", str(s)]
            argv += ["--threads", str(threads), "--out", str(out)]
            if minutes is not None:
                argv += ["--minutes", f"{minutes:g}"]
            if e.model is not None:
                argv += ["--model", e.model]
            jobs.append(Job(e.label, s, out, (*argv, *flags, *e.flags)))
    return jobs


PEER_RUNNER = "regionlab.comparison.peer_run"


def plan_peer_jobs(task: str, peers: list[str], seeds: list[int], *, train_spec: str,
                   tune_spec: str, report_spec: str, runs: Path, threads: int,
                   minutes: float | None) -> list[Job]:  # fmt: skip
    """One peer :class:`Job` per (peer, seed), with the splits, threads and budget of ours."""
    jobs = []
    for name in peers:
        for s in seeds:
            out = runs / f"{name}-s{s}"
            argv = [name, "--task", task, "--train", train_spec, "--tune", tune_spec,
                    "--report", report_spec, "--seed", str(s), "--threads", str(threads),
                    "--out", str(out)]  # fmt: skip
            if minutes is not None:
                argv += ["--minutes", f"{minutes:g}"]
            jobs.append(Job(name, s, out, tuple(argv), PEER_RUNNER))
    return jobs
