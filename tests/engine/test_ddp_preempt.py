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


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed missing")
def test_sigterm_to_one_rank_stops_all_at_one_step_and_resumes_exactly(tmp_path):
    full, cut = tmp_path / "full", tmp_path / "cut"
    subprocess.run(command("segment", full, 2, "--sync-bn"), env=ENV, check=True, timeout=600,
                   capture_output=True)  # fmt: skip
    args = command("segment", cut, 2, "--sync-bn")
    i = args.index("-m", 3)  # torchrun's "-m regionlab" -> the job script, signal at step 3
    job = [*args[:i], str(JOB), "3", "1", *args[i + 2 :]]
    stopped = subprocess.run(job, env=ENV, timeout=600, capture_output=True, text=True)
    assert stopped.returncode != 0
    assert f"preempted by SIGTERM at step 3; {cut / 'last.pt'} written" in stopped.stderr
    assert "resume with: torchrun (the same options) -m regionlab train segment" in stopped.stderr
    assert stopped.stderr.count("preempted by SIGTERM") == 1  # rank 0 alone prints
    assert load_checkpoint(cut / "last.pt")["state"]["step"] == 3
    subprocess.run(command("segment", cut, 2, "--sync-bn", "--resume"), env=ENV, check=True,
                   timeout=600, capture_output=True)  # fmt: skip
    a, b = load_checkpoint(full / "last.pt"), load_checkpoint(cut / "last.pt")
    assert a["state"]["step"] == b["state"]["step"] == 4
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
