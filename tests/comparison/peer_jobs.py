"""A peer run of a test: ``n`` scenes split into train / tune / report subsets (the last two
of ``tune`` and ``report`` images each), run through ``peer_run``'s command line."""

from __future__ import annotations

from pathlib import Path

from regionlab.api.specs import with_option
from regionlab.api.subsets import SubsetFile, write_subset
from regionlab.comparison.peer_run import main as peer_main


def run_peer(tmp_path: Path, peer: str, task: str, data: str, n: int, held: int = 2) -> Path:
    """Train ``peer`` for ``task`` on ``data`` (``n`` samples; ``held`` each for tune and
    report) for about a second; returns its run folder (``peer_run`` exited 0)."""
    cut = {"train": range(0, n - 2 * held), "tune": range(n - 2 * held, n - held),
           "report": range(n - held, n)}  # fmt: skip
    specs = {}
    for name, idx in cut.items():
        path = write_subset(tmp_path / f"{name}.json", SubsetFile("train", n, tuple(idx)))
        specs[name] = with_option(data, "subset", str(path))
    out = tmp_path / f"{peer}-s0"
    argv = [peer, "--task", task, "--train", specs["train"], "--tune", specs["tune"],
            "--report", specs["report"], "--seed", "0", "--threads", "1", "--minutes", "0.02",
            "--out", str(out)]  # fmt: skip
    assert peer_main(argv) == 0
    return out
