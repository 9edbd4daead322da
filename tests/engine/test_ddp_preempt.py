"""Under torchrun a SIGTERM to one process stops every process at the same step, with
``last.pt`` written once; ``--resume`` under torchrun then ends at the uninterrupted run's
weights, bit for bit."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch
from ddp_families import ENV, command

from regionlab.engine.checkpoint import load_checkpoint

JOB = Path(__file__).with_name("preempt_job.py")


# keypoints with dropout: rank 1 draws its masks from its own stream, which last.pt must keep
CASES = {"segment": (), "keypoints-dropout": ("--dropout", "0.2")}


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed missing")
@pytest.mark.parametrize("case", list(CASES))
def test_sigterm_to_one_rank_stops_all_at_one_step_and_resumes_exactly(tmp_path, case):
    family, extra = case.split("-")[0], ("--sync-bn", *CASES[case])
    full, cut = tmp_path / "full", tmp_path / "cut"
    subprocess.run(command(family, full, 2, *extra), env=ENV, check=True, timeout=600,
                   capture_output=True)  # fmt: skip
    args = command(family, cut, 2, *extra)
    i = args.index("-m", 3)  # torchrun's "-m regionlab" -> the job script, signal at step 3
    job = [*args[:i], str(JOB), "3", "1", *args[i + 2 :]]
    stopped = subprocess.run(job, env=ENV, timeout=600, capture_output=True, text=True)
    assert stopped.returncode != 0
    assert f"preempted by SIGTERM at step 3; {cut / 'last.pt'} written" in stopped.stderr
    assert f"resume with: torchrun (the same options) -m regionlab train {family}" in stopped.stderr
    assert stopped.stderr.count("preempted by SIGTERM") == 1  # rank 0 alone prints
    saved = load_checkpoint(cut / "last.pt")
    assert saved["state"]["step"] == 3
    streams = [s["torch"] for s in saved["process_rng"]]  # one random stream per process
    assert len(streams) == 2 and not torch.equal(*streams)
    assert torch.equal(streams[0], saved["rng"]["torch"])
    subprocess.run(command(family, cut, 2, *extra, "--resume"), env=ENV, check=True,
                   timeout=600, capture_output=True)  # fmt: skip
    a, b = load_checkpoint(full / "last.pt"), load_checkpoint(cut / "last.pt")
    assert a["state"]["step"] == b["state"]["step"] == 4
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
