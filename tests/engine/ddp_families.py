"""Every task family trained by ``regionlab train`` alone and under torchrun (2 CPU processes,
gloo) with the same global batch; used by ``test_ddp_families.py``.

Run as a script, it prints the equivalence table (max parameter difference to the 1-process
run, with and without ``--sync-bn``)::

    OMP_NUM_THREADS=1 PYTHONPATH=src python tests/engine/ddp_families.py [FAMILY ...]

Each loss is normalised over the global batch (:mod:`regionlab.ops.global_batch`: the counts
all-reduced, Dice's sums, alignment's ranking over the gathered embeddings) and each image
samples its regions with its own generator, so with ``--sync-bn`` two processes compute the
1-process gradient up to float rounding. After 4 steps (2 epochs of a global batch of 4),
torch 2.14 CPU, gloo (the script's output):

| family             | SGD, --sync-bn | SGD, without | AdamW, --sync-bn |
| ------------------ | -------------- | ------------ | ---------------- |
| segment            | 1.19e-07       | 1.04e-01     | 2.63e-06         |
| segment-ce         | 1.79e-07       | 1.04e-01     | 3.74e-07         |
| localize           | 2.38e-07       | 9.40e-02     | 1.90e-06         |
| keypoints          | 2.98e-07       | 9.03e-02     | 1.03e-06         |
| detect-grid        | 4.77e-07       | 7.23e-02     | 3.24e-04         |
| detect-faster-rcnn | 1.19e-07       | 6.70e-02     | 1.80e-03         |
| detect-fast-rcnn   | 1.19e-07       | 4.04e-02     | 9.62e-06         |
| instance           | 1.92e-05       | 6.78e-02     | 1.58e-03         |
| caption            | 1.79e-07       | 1.04e-01     | 3.74e-07         |
| align              | 1.79e-07       | 1.02e-01     | 3.20e-07         |

The test trains with SGD: AdamW divides each gradient by its own running size, so a float
rounding difference in a near-zero gradient becomes a step of the learning rate's size, and
the RPN's top-k and NMS then pick other proposals. That is float noise, not a different loss:
one process on 2 threads instead of 1 differs from itself by as much (AdamW, 4 steps: Faster
R-CNN 1.5e-04, Mask R-CNN 1.6e-03, grid 5.7e-05; the grid's 3.2e-04 above is one weight of
18,432). Keypoints trains with ``--dropout 0``
here: with the default 0.2 each process draws its own dropout masks (AdamW: 8.2e-03).

In fp32 (``--precision fp32``): under bf16 autocast (``auto`` on a CPU with AMX) each
process rounds the products of its own slice, so the two runs agree only to bf16's precision.

Without ``--sync-bn`` each process normalises by its own slice's batch statistics (and keeps
its own running statistics), which moves every family (all have BatchNorm) by about 1e-1.
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
    # (dropout draws its masks from each process's own stream)
    "keypoints": ("keypoints", ONE, [*SMALL, "--dropout", "0"]),
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


def family_task(family: str, n: int):
    """The task ``regionlab train`` builds for ``family`` on ``n`` samples, and those samples."""
    from regionlab.cli.main import build_parser
    from regionlab.cli.specs import open_dataset
    from regionlab.cli.tasks import TASKS

    task_name, data, flags = FAMILIES[family]
    spec = data.format(n=n)
    args = build_parser().parse_args(["train", task_name, "--data", spec, *flags])
    dataset = open_dataset(spec)
    return TASKS[task_name].build(args, dataset), dataset


def train_args(family: str, out: Path, processes: int, *extra: str) -> list[str]:
    """The ``regionlab`` arguments that train ``family`` into ``out``, each of ``processes``
    taking its slice of the global batch."""
    task, data, flags = FAMILIES[family]
    return ["train", task, "--data", data.format(n=8), "--val", data.format(n=4), *flags,
            "--epochs", "2", "--batch-size", str(GLOBAL_BATCH // processes), "--threads", "1",
            "--optimizer", "sgd", "--lr", "0.02", "--precision", "fp32",
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
    print("| family | SGD, --sync-bn | SGD, without | AdamW, --sync-bn |")
    print("| --- | --- | --- | --- |")
    adamw = ("--optimizer", "adamw", "--lr", "2e-3")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, processes, extra in (("one", 1, ()), ("sync", 2, ("--sync-bn",)),
                                       ("plain", 2, ("--no-sync-bn",)), ("one-adamw", 1, adamw),
                                       ("sync-adamw", 2, ("--sync-bn", *adamw))):  # fmt: skip
            train_all(root / name, processes, families, *extra)
        for f in families:
            cells = [max_difference(root / a / f, root / b / f) for a, b in
                     (("one", "sync"), ("one", "plain"), ("one-adamw", "sync-adamw"))]  # fmt: skip
            print(f"| {f} | " + " | ".join(f"{c:.2e}" for c in cells) + " |", flush=True)


if __name__ == "__main__":
    torch.set_num_threads(1)
    if sys.argv[1:2] == ["--job"]:
        _job(*sys.argv[2:])
    else:
        table(sys.argv[1:] or list(FAMILIES))
