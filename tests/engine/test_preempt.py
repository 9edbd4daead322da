"""Preemption: SIGTERM (or Ctrl-C) stops a run after its current step with ``last.pt`` written,
for every task family; ``resume`` then ends exactly where the uninterrupted run ends (weights,
optimizer, metrics). The command line exits 143 and prints the command that resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

import regionlab
from regionlab.cli.main import main
from regionlab.engine.checkpoint import load_checkpoint
from regionlab.engine.errors import Preempted
from regionlab.engine.preempt import StopSignals, exit_status
from regionlab.engine.run import Run

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals")

ONE = "scenes:size=32,n={n},max_objects=1"
DET = "scenes:size=48,n={n}"
CSP = dict(widths=[8, 16, 32, 64], depths=[0, 1, 1])
# family -> (task, train spec, val spec, options): tiny models, 2 epochs of 2 steps
FAMILIES = {
    "segment": ("segment", "scenes:size=32,n={n}", dict(widths=[8, 16], scale=[1, 1])),
    "localize": ("localize", ONE, dict(widths=[8, 16])),
    "keypoints": ("keypoints", ONE, dict(widths=[8, 16])),
    "detect-grid": ("detect", DET, dict(model="grid", strides=[4, 8, 16], **CSP)),
    "detect-faster-rcnn": ("detect", DET, dict(model="faster-rcnn", **CSP)),
    "instance": ("instance", DET, dict(mask_size=12, mask_width=8, mask_convs=1, **CSP)),
    "caption": ("caption", "scenes:size=32,n={n}", dict(widths=[8, 16], embed=16, hidden=32)),
    "align": ("align", "scenes:size=32,n={n}", dict(widths=[8, 16], embed=16, hidden=32, stride=4)),
}
STEPS = 4


def _train(family: str, out, **extra) -> dict:
    task, data, options = FAMILIES[family]
    return regionlab.train(task, data.format(n=8), val=data.format(n=2), out=str(out), epochs=2,
                           batch_size=4, threads=1, **options, **extra)  # fmt: skip


def signal_during_step(monkeypatch, step: int, signum=signal.SIGTERM) -> None:
    """A real signal to this process while optimisation step ``step`` (1-based) runs."""
    real = Run.step

    def step_then_signal(self, *args):
        out = real(self, *args)
        if self.state.step + 1 == step:
            signal.raise_signal(signum)
        return out

    monkeypatch.setattr(Run, "step", step_then_signal)


def assert_same_run(full, cut) -> None:
    """Same weights, optimizer state, counters and metrics rows (times and memory aside)."""
    a, b = load_checkpoint(full / "last.pt"), load_checkpoint(cut / "last.pt")
    assert a["state"]["step"] == b["state"]["step"] == STEPS
    assert _plain({**a["state"], "elapsed": 0}) == _plain({**b["state"], "elapsed": 0})
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    for i in sa:
        for k, v in sa[i].items():
            assert torch.equal(torch.as_tensor(v), torch.as_tensor(sb[i][k])), (i, k)

    def rows(folder):
        lines = (folder / "metrics.jsonl").read_text().splitlines()
        return [
            {k: v for k, v in json.loads(r).items() if k not in ("time", "memory")} for r in lines
        ]

    assert _plain(rows(full)) == _plain(rows(cut))


def _plain(value) -> str:
    return json.dumps(value, sort_keys=True)  # NaN metrics compare equal as text


@pytest.mark.parametrize("family", list(FAMILIES))
def test_sigterm_mid_run_then_resume_equals_uninterrupted(tmp_path, monkeypatch, family):
    full, cut = tmp_path / "full", tmp_path / "cut"
    _train(family, full)
    stop_at = 1 + sum(map(ord, family)) % (STEPS - 1)  # 1..3: mid-epoch and at an epoch's end
    with monkeypatch.context() as m:
        signal_during_step(m, stop_at)
        with pytest.raises(Preempted) as info:
            _train(family, cut)
    assert info.value.step == stop_at and info.value.exit_status == 143
    assert load_checkpoint(cut / "last.pt")["state"]["step"] == stop_at
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the caller's handler is back
    _train(family, cut, resume=True)
    assert_same_run(full, cut)


def test_stop_on_the_last_step_resumes_to_the_final_evaluation(tmp_path, monkeypatch):
    full, cut = tmp_path / "full", tmp_path / "cut"
    _train("segment", full)
    with monkeypatch.context() as m:
        signal_during_step(m, STEPS, signal.SIGINT)
        with pytest.raises(Preempted) as info:
            _train("segment", cut)
    assert info.value.exit_status == 130 and not (cut / "metrics.json").exists()
    summary = _train("segment", cut, resume=True)
    assert_same_run(full, cut)
    assert _plain(summary["final"]) == _plain(
        json.loads((full / "metrics.json").read_text())["final"]
    )


def test_a_signal_during_an_evaluation_stops_before_the_next_epoch(tmp_path, monkeypatch):
    full, cut = tmp_path / "full", tmp_path / "cut"
    _train("segment", full, eval_every=1)
    with monkeypatch.context() as m:
        real = Run.evaluate

        def evaluate_then_signal(self):
            real(self)
            signal.raise_signal(signal.SIGTERM)

        m.setattr(Run, "evaluate", evaluate_then_signal)
        with pytest.raises(Preempted) as info:
            _train("segment", cut, eval_every=1)
    assert info.value.step == 2  # epoch 1's end: no step of epoch 2 taken
    assert load_checkpoint(cut / "last.pt")["state"]["batch"] == 0
    _train("segment", cut, resume=True, eval_every=1)
    assert_same_run(full, cut)


def test_handlers_record_the_first_signal_and_restore_the_callers():
    mine = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with StopSignals() as stop:
            signal.raise_signal(signal.SIGINT)
            assert stop.signum == signal.SIGINT
            with pytest.raises(KeyboardInterrupt):  # twice: interrupt at once, as before
                signal.raise_signal(signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGINT, mine)
    assert exit_status(signal.SIGTERM) == 143 and exit_status(signal.SIGINT) == 130


TRAIN = ["train", "segment", "--data", "scenes:size=32,n=16", "--val", "scenes:size=32,n=4",
         "--widths", "8,16", "--scale", "1", "1", "--epochs", "3", "--batch-size", "4",
         "--threads", "1", "--checkpoint-every", "1"]  # fmt: skip


@pytest.mark.parametrize("workers", [0, pytest.param(2, marks=pytest.mark.slow)])
def test_cli_sigterm_from_outside_exits_143_and_resumes_to_the_same_weights(tmp_path, workers):
    """A real SIGTERM from another process, at whatever step it lands on; with loader workers,
    to the whole process group (as schedulers do): the workers leave the stop to the run."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    full, cut = tmp_path / "full", tmp_path / "cut"
    cmd = [sys.executable, "-m", "regionlab", *TRAIN, "--num-workers", str(workers)]
    assert main([*TRAIN, "--out", str(full)]) == 0  # uninterrupted, in this process
    proc = subprocess.Popen([*cmd, "--out", str(cut)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    # --checkpoint-every 1: last.pt appears after the first step; then the signal
    while not (cut / "last.pt").exists() and proc.poll() is None:
        time.sleep(0.01)
    if workers:
        os.killpg(proc.pid, signal.SIGTERM)
    else:
        proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err
    step = load_checkpoint(cut / "last.pt")["state"]["step"]
    assert f"preempted by SIGTERM at step {step}; {cut / 'last.pt'} written" in err
    assert err.strip().endswith(f"--out {cut} --resume"), err
    assert "python -m regionlab train segment" in err
    done = subprocess.run([*cmd, "--out", str(cut), "--resume"], env=env, timeout=300,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    a, b = load_checkpoint(full / "last.pt"), load_checkpoint(cut / "last.pt")
    assert a["state"]["step"] == b["state"]["step"] == 12
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
