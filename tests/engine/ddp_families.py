"""Every task family trained by ``regionlab train`` alone and under torchrun (2 CPU processes,
gloo) with the same global batch; used by ``test_ddp_families.py``.

Run as a script, it prints the equivalence table (max parameter difference to the 1-process
run, with and without ``--sync-bn``)::

    OMP_NUM_THREADS=1 PYTHONPATH=src python tests/engine/ddp_families.py [FAMILY ...]

After 4 AdamW steps (lr 2e-3), torch 2.14 CPU, gloo:

| family             | --sync-bn | without | what still differs with --sync-bn                  |
| ------------------ | --------- | ------- | -------------------------------------------------- |
| segment-ce         | 3.7e-07   | 1.0e-01 | nothing (pixel cross-entropy, equal images)        |
| localize           | 1.9e-06   | 9.6e-02 | nothing (per-image losses)                         |
| segment            | 4.9e-03   | 1.1e-01 | class-weighted CE over the slice's weights; Dice   |
|                    |           |         | over the slice's pixels                            |
| keypoints          | 8.2e-03   | 9.3e-02 | coordinate loss over the slice's visible points    |
| detect-grid        | 7.1e-03   | 6.5e-02 | losses over the slice's sum of assignment scores   |
| detect-faster-rcnn | 1.4e-02   | 7.4e-02 | region samples drawn from a generator seeded by    |
| detect-fast-rcnn   | 4.9e-03   | 4.4e-02 | the slice's samples; losses over its sampled       |
| instance           | 2.3e-02   | 9.2e-02 | regions (Mask R-CNN: and its positives' masks)     |
| caption            | 5.9e-03   | 1.0e-01 | cross-entropy over the slice's words               |
| align              | 5.0e-03   | 1.0e-01 | ranking loss against the slice's other pairs only  |

Without ``--sync-bn`` each process normalises by its own slice's batch statistics, which moves
every family that has BatchNorm by about 1e-1 here. The rest is each loss's normaliser (a
mean over what the slice holds, not over what the global batch holds): the same training,
the same expected gradient, not the same numbers.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

ONE = "scenes:size=32,n={n},max_objects=1"
DET = "scenes:size=48,n={n}"
CSP = ["--widths", "8,16,32,64", "--depths", "0,1,1"]
SMALL = ["--widths", "8,16"]
# family -> (task, data spec, flags): tiny models, 2 epochs of 2 steps of a global batch of 4
FAMILIES = {
    "segment": ("segment", "scenes:size=32,n={n}", [*SMALL, "--scale", "1", "1"]),
    # the loss a mean over pixels of equal images: data parallelism changes nothing else
    "segment-ce": (
        "segment",
        "scenes:size=32,n={n}",
        [*SMALL, "--scale", "1", "1", "--dice", "0", "--class-weights", "none"],
    ),  # fmt: skip
    "localize": ("localize", ONE, SMALL),
    "keypoints": ("keypoints", ONE, SMALL),
    "detect-grid": ("detect", DET, ["--model", "grid", "--strides", "4,8,16", *CSP]),
    "detect-faster-rcnn": ("detect", DET, ["--model", "faster-rcnn", *CSP]),
    "detect-fast-rcnn": ("detect", DET, ["--model", "fast-rcnn", "--top-proposals", "50", *CSP]),
    "instance": ("instance", DET, ["--mask-size", "12", "--mask-width", "8", *CSP]),
    "caption": ("caption", "scenes:size=32,n={n}", [*SMALL, "--embed", "16", "--hidden", "32"]),
    "align": (
        "align",
        "scenes:size=32,n={n}",
        [*SMALL, "--embed", "16", "--hidden", "32", "--stride", "4"],
    ),  # fmt: skip
}
GLOBAL_BATCH = 4
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_args(family: str, out: Path, processes: int, *extra: str) -> list[str]:
    """The ``regionlab`` arguments that train ``family`` into ``out``, each of ``processes``
    taking its slice of the global batch."""
    task, data, flags = FAMILIES[family]
    return ["train", task, "--data", data.format(n=8), "--val", data.format(n=4), *flags,
            "--epochs", "2", "--batch-size", str(GLOBAL_BATCH // processes), "--threads", "1",
            "--device", "cpu", "--out", str(out), *extra]  # fmt: skip


def launcher(processes: int) -> list[str]:
    """python, or torchrun with ``processes`` on this machine (a free port each time)."""
    if processes == 1:
        return [sys.executable]
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
            "--master_addr", "127.0.0.1", "--master_port", str(free_port())]  # fmt: skip


def command(family: str, out: Path, processes: int, *extra: str) -> list[str]:
    """``regionlab train`` of ``family`` into ``out`` with ``processes`` (torchrun if > 1)."""
    return [*launcher(processes), "-m", "regionlab", *train_args(family, out, processes, *extra)]


def train(family: str, out: Path, processes: int, *extra: str) -> None:
    _run(command(family, out, processes, *extra), f"{family} with {processes} process(es)")


def train_all(root: Path, processes: int, families: list[str], *extra: str) -> None:
    """Every family of ``families`` into ``root/FAMILY``, one after the other in one launch
    (one interpreter and one process group for all: much faster than a launch each)."""
    job = [*launcher(processes), __file__, "--job", str(root), str(processes),
           ",".join(families), *extra]  # fmt: skip
    _run(job, f"{', '.join(families)} with {processes} process(es)")


def _run(cmd: list[str], what: str) -> None:
    done = subprocess.run(cmd, env=ENV, timeout=1200, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{done.stderr[-3000:]}")


def _job(root: str, processes: str, families: str, *extra: str) -> None:
    from regionlab.cli.main import build_parser

    for family in families.split(","):
        args = build_parser().parse_args(
            train_args(family, Path(root) / family, int(processes), *extra)
        )
        if args.func(args) != 0:  # the process group stays up between families
            raise SystemExit(f"{family} failed")


def max_difference(a: Path, b: Path) -> float:
    """Largest absolute difference between the float parameters and buffers of two runs."""
    from regionlab.engine.checkpoint import load_checkpoint

    ma, mb = load_checkpoint(a / "last.pt")["model"], load_checkpoint(b / "last.pt")["model"]
    assert ma.keys() == mb.keys()
    diffs = [(ma[k] - mb[k]).abs().max().item() for k in ma if ma[k].is_floating_point()]
    return max(diffs, default=0.0)


def table(families: list[str]) -> None:
    print("| family | max abs difference, --sync-bn | without --sync-bn |")
    print("| --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        train_all(root / "one", 1, families)
        train_all(root / "sync", 2, families, "--sync-bn")
        train_all(root / "plain", 2, families, "--no-sync-bn")
        for f in families:
            sync = max_difference(root / "one" / f, root / "sync" / f)
            plain = max_difference(root / "one" / f, root / "plain" / f)
            print(f"| {f} | {sync:.2e} | {plain:.2e} |", flush=True)


if __name__ == "__main__":
    torch.set_num_threads(1)
    if sys.argv[1:2] == ["--job"]:
        _job(*sys.argv[2:])
    else:
        table(sys.argv[1:] or list(FAMILIES))
