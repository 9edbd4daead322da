"""``checkpoint_minutes``: ``last.pt`` is written mid-epoch once that much training time (the
clock every process agrees on; a fake one here) has passed since the last write, and a run
killed after such a write resumes to the same weights as an uninterrupted one."""

from __future__ import annotations

import json

import pytest
import torch

from regionlab.data.scenes import CLASSES, SceneConfig, SceneDataset
from regionlab.engine import trainer as trainer_module
from regionlab.engine.checkpoint import load_checkpoint
from regionlab.engine.config import TrainConfig
from regionlab.engine.run import Run
from regionlab.engine.trainer import fit
from regionlab.models.segmentation.builders import SegmentationSpec
from regionlab.tasks.segmentation import SegmentationTask

SCENES = SceneConfig(size=32, max_objects=2)


def _task():
    return SegmentationTask(SegmentationSpec(4, widths=[8, 16]), (32, 32), CLASSES, scale=(1, 1.2))


def _fit(out, resume=False, **cfg):
    base = dict(epochs=2, batch_size=4, eval_batch_size=4, lr=1e-2, progress=False, threads=1)
    data = SceneDataset(16, config=SCENES), SceneDataset(4, split="val", config=SCENES)
    return fit(_task(), *data, TrainConfig(**{**base, **cfg}), out, resume=resume,
               log=lambda *_: None)  # fmt: skip


class FakeClock:
    """The trainer's clock: each optimisation step takes ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self.now, self.seconds = 0.0, seconds

    def __call__(self) -> float:
        return self.now


def _record_writes(monkeypatch, clock: FakeClock | None = None) -> list[tuple[int, int]]:
    """(step, batch) of each last.pt write; with ``clock``, each step advances it."""
    writes: list[tuple[int, int]] = []
    real_checkpoint, real_step = Run.checkpoint, Run.step

    def checkpoint(self, path, *, optimizer=True):
        if optimizer:
            writes.append((self.state.step, self.state.batch))
        real_checkpoint(self, path, optimizer=optimizer)

    def step(self, *args):
        if clock is not None:
            clock.now += clock.seconds
        return real_step(self, *args)

    monkeypatch.setattr(Run, "checkpoint", checkpoint)
    monkeypatch.setattr(Run, "step", step)
    if clock is not None:
        monkeypatch.setattr(trainer_module, "clock", clock)
    return writes


def test_last_pt_is_written_mid_epoch_every_checkpoint_minutes(tmp_path, monkeypatch):
    writes = _record_writes(monkeypatch, FakeClock(seconds=30))
    _fit(tmp_path / "a", checkpoint_minutes=1.0)  # 4 steps an epoch, 2 steps a minute
    assert writes == [(2, 2), (4, 0), (6, 2), (8, 0), (8, 0)]  # mid-epoch, epoch end, ..., end
    assert TrainConfig().checkpoint_minutes == 10  # on by default


def test_zero_minutes_writes_at_epoch_ends_only(tmp_path, monkeypatch):
    writes = _record_writes(monkeypatch, FakeClock(seconds=600))
    _fit(tmp_path / "a", checkpoint_minutes=0)
    # epoch ends where the run evaluates (both, in a 2-epoch run), the run's end written once
    assert all(batch == 0 for _, batch in writes) and [s for s, _ in writes] == [4, 8]


def test_a_kill_after_a_timed_checkpoint_resumes_to_the_same_weights(tmp_path, monkeypatch):
    _fit(tmp_path / "full")
    with monkeypatch.context() as m:
        real = Run.step

        def killed_at_step_6(self, *args):  # like SIGKILL: no last write
            if self.state.step == 5:
                raise KeyboardInterrupt("killed")
            return real(self, *args)

        m.setattr(Run, "step", killed_at_step_6)
        with pytest.raises(KeyboardInterrupt):
            _fit(tmp_path / "cut", checkpoint_minutes=1e-9)  # every step
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["state"]["step"] == 5  # mid-epoch 2
    _fit(tmp_path / "cut", resume=True, checkpoint_minutes=1e-9)
    a = load_checkpoint(tmp_path / "full" / "last.pt")
    b = load_checkpoint(tmp_path / "cut" / "last.pt")
    assert a["state"]["step"] == b["state"]["step"] == 8
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k


def test_negative_intervals_are_refused():
    with pytest.raises(ValueError, match="checkpoint_minutes must be >= 0"):
        TrainConfig(checkpoint_minutes=-1).validate()


def test_rows_written_after_the_last_checkpoint_are_not_repeated(tmp_path, monkeypatch):
    """Killed between epoch 1's validation row and its checkpoint: the resume rewinds
    metrics.jsonl to the checkpoint (plus a torn line), then writes the row again."""
    _fit(tmp_path / "full", checkpoint_minutes=1e-9)
    cut = tmp_path / "cut"
    with monkeypatch.context() as m:
        real = Run.checkpoint

        def killed_at_epoch_end(self, path, *, optimizer=True):
            if self.state.step == 4 and optimizer:
                with open(self.metrics_path, "a") as f:
                    f.write('{"torn')  # and mid-write of another line
                raise KeyboardInterrupt("killed")
            real(self, path, optimizer=optimizer)

        m.setattr(Run, "checkpoint", killed_at_epoch_end)
        with pytest.raises(KeyboardInterrupt):
            _fit(cut, checkpoint_minutes=1e-9)
    assert load_checkpoint(cut / "last.pt")["state"]["step"] == 3
    logged = []
    data = SceneDataset(16, config=SCENES), SceneDataset(4, split="val", config=SCENES)
    cfg = dict(epochs=2, batch_size=4, eval_batch_size=4, lr=1e-2, progress=False, threads=1)
    fit(_task(), *data, TrainConfig(**cfg, checkpoint_minutes=1e-9), cut, resume=True,
        log=logged.append)  # fmt: skip
    assert any(
        "dropped 2 line(s) the interrupted run wrote after its checkpoint" in line
        for line in logged
    )

    def rows(run):
        return [{k: v for k, v in json.loads(r).items() if k not in ("time", "memory")}
                for r in (run / "metrics.jsonl").read_text().splitlines()]  # fmt: skip

    assert json.dumps(rows(cut)) == json.dumps(rows(tmp_path / "full"))
