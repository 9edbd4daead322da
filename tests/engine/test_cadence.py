"""When a run evaluates: every ``eval_every`` epochs as asked, else about
``EVALS_PER_RUN`` times a run however few steps its epochs hold (a 12-image set, 3 steps an
epoch, was scored and saved after every epoch)."""

from __future__ import annotations

import json

from regionlab.data.scenes import CLASSES, SceneConfig, SceneDataset
from regionlab.engine.cadence import EVALS_PER_RUN, eval_due
from regionlab.engine.config import TrainConfig
from regionlab.engine.run import Run
from regionlab.engine.state import RunState
from regionlab.engine.trainer import fit
from regionlab.models.segmentation.builders import SegmentationSpec
from regionlab.tasks.segmentation import SegmentationTask

SCENES = SceneConfig(size=32, max_objects=2)


def test_eval_due_spreads_the_evaluations_in_steps_unless_eval_every_is_given():
    auto, every3 = TrainConfig(), TrainConfig(eval_every=3)
    assert auto.eval_every is None
    # evaluated at step 40: the next a twentieth of 200 steps later
    assert not eval_due(auto, RunState(step=49, planned_steps=200, evaluated_step=40), None)
    assert eval_due(auto, RunState(step=50, planned_steps=200, evaluated_step=40), None)
    assert eval_due(auto, RunState(step=10, planned_steps=200), None)  # never evaluated
    assert not eval_due(every3, RunState(epoch=7, step=999, planned_steps=200), None)
    assert eval_due(every3, RunState(epoch=9), None)


def test_a_timed_run_still_measuring_spaces_them_by_its_budgets_seconds():
    # 0.5 s a step so far; a twentieth of 180 s is 9 s, or 18 steps since the last at step 12
    auto = TrainConfig()
    assert not eval_due(auto, RunState(step=29, elapsed=14.5, evaluated_step=12), 180.0)
    assert eval_due(auto, RunState(step=30, elapsed=15.0, evaluated_step=12), 180.0)
    assert EVALS_PER_RUN == 20


def _fit(tmp_path, monkeypatch, **cfg):
    """12 scenes in one batch: one step an epoch. Returns (steps of the val rows, last.pt writes)."""
    writes: list[int] = []
    real = Run.checkpoint

    def checkpoint(self, path, *, optimizer=True):
        if optimizer:
            writes.append(self.state.step)
        real(self, path, optimizer=optimizer)

    monkeypatch.setattr(Run, "checkpoint", checkpoint)
    task = SegmentationTask(SegmentationSpec(4, widths=[4, 8]), (32, 32), CLASSES, scale=(1, 1))
    data = SceneDataset(12, config=SCENES), SceneDataset(2, split="val", config=SCENES)
    base = dict(batch_size=12, eval_batch_size=2, progress=False, threads=1, checkpoint_minutes=0)
    fit(task, *data, TrainConfig(**{**base, **cfg}), tmp_path, log=lambda *_: None)
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    return [r["step"] for r in rows if r.get("split") == "val"], writes


def test_a_one_step_epoch_set_is_scored_about_twenty_times_not_every_step(tmp_path, monkeypatch):
    evals, writes = _fit(tmp_path, monkeypatch, epochs=100)
    # every 5th of 100 one-step epochs, the last being the run's end (scored once, not twice)
    assert evals == list(range(5, 101, 5))
    assert writes == evals  # last.pt where the run evaluates (the run's end included), no more


def test_eval_every_given_is_kept_epoch_by_epoch(tmp_path, monkeypatch):
    evals, writes = _fit(tmp_path, monkeypatch, epochs=12, eval_every=1)
    assert evals == list(range(1, 13)) and writes == evals
