"""Faults: a run killed with SIGKILL resumes to the same weights; a kill during a checkpoint write
never leaves a corrupt latest checkpoint."""

import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from regionlab.engine.checkpoint import CheckpointError, load_checkpoint

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")

TRAIN = [
    sys.executable,
    "-m",
    "regionlab",
    "train",
    "segment",
    "--data",
    "scenes:size=32,n=16",
    "--val",
    "scenes:size=32,n=4",
    "--widths",
    "8,16",
    "--epochs",
    "6",
    "--batch-size",
    "4",
    "--checkpoint-every",
    "1",
    "--threads",
    "1",
    "--scale",
    "1",
    "1.2",
]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _step(path) -> int:
    try:
        return load_checkpoint(path)["state"]["step"]
    except CheckpointError:
        return -1


def test_sigkill_at_a_random_step_then_resume_equals_uninterrupted(tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    subprocess.run(
        [*TRAIN, "--out", str(full)], check=True, env=ENV, timeout=600, capture_output=True
    )
    kill_at = random.Random(os.getpid()).randint(3, 18)  # of 24 steps
    proc = subprocess.Popen(
        [*TRAIN, "--out", str(cut)], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 300
    while _step(cut / "last.pt") < kill_at and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = _step(cut / "last.pt")
    assert 0 < killed_at < 24, f"the kill should land mid-run (checkpoint at step {killed_at})"
    subprocess.run(
        [*TRAIN, "--out", str(cut), "--resume"],
        check=True,
        env=ENV,
        timeout=600,
        capture_output=True,
    )
    a, b = load_checkpoint(full / "last.pt"), load_checkpoint(cut / "last.pt")
    assert a["state"]["step"] == b["state"]["step"] == 24
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert not list(cut.glob(".*.tmp")), "stale temporary checkpoint files must be cleaned"


WRITER = """
import sys, torch
from regionlab.engine.checkpoint import save_atomic
i = 0
while True:
    i += 1
    save_atomic({"format": 1, "task": "t", "i": i, "w": torch.full((2_000_000,), float(i))},
                sys.argv[1])
    print(i, flush=True)
"""


def test_kill_during_checkpoint_writes_never_corrupts_the_latest(tmp_path):
    path = tmp_path / "last.pt"
    rng = random.Random(1)
    for _ in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)],
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        proc.stdout.readline()  # at least one complete write
        time.sleep(rng.uniform(0.0, 0.3))  # then die anywhere, most likely mid-write
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        ckpt = load_checkpoint(path)  # never raises: the latest file is always whole
        assert torch.equal(ckpt["w"], torch.full((2_000_000,), float(ckpt["i"])))
