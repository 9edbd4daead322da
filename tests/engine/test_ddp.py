"""torchrun with 2 CPU processes (gloo) equals one process with the same global batch."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from regionlab.engine.checkpoint import load_checkpoint

JOB = Path(__file__).with_name("ddp_job.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed missing")
@pytest.mark.parametrize("kind", ["segment", "localize"])
def test_two_processes_equal_one_with_the_same_global_batch(tmp_path, kind):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single, multi = tmp_path / "single", tmp_path / "multi"
    subprocess.run(
        [sys.executable, str(JOB), str(single), "4", kind], check=True, env=env, timeout=300
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            str(_free_port()),
            str(JOB),
            str(multi),
            "2",
            kind,
        ],
        env=env,
        timeout=300,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # each process left its group before the interpreter's teardown, where gloo's threads
    # aborted it now and then ("terminate called without an active exception")
    assert done.stderr.count("group left before teardown: True") == 2, done.stderr[-3000:]
    a = load_checkpoint(single / "last.pt")
    b = load_checkpoint(multi / "last.pt")
    assert a["state"]["step"] == b["state"]["step"] == 8
    for k in a["model"]:
        assert torch.allclose(a["model"][k], b["model"][k], atol=1e-5, rtol=1e-4), k
    # only rank 0 wrote: one metrics file, no duplicate lines
    lines = (multi / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == len((single / "metrics.jsonl").read_text().splitlines())
    assert sorted(p.name for p in multi.iterdir()) == sorted(p.name for p in single.iterdir())
    # rank 0 recorded the run (its FLOPs counted on its own slice of the first batch)
    record = json.loads((multi / "run.json").read_text())
    assert record["runtime"]["world"] == 2 and record["samples"]["train"] == 16
    assert (
        record["model"]["flops_per_image"]
        == json.loads((single / "run.json").read_text())["model"]["flops_per_image"]
    )
