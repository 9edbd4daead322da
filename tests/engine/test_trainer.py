"""The training loop on tiny jobs: resume equals uninterrupted, NaN stops cleanly, no overwrite."""

import json
import multiprocessing

import pytest
import torch

from regionlab.data.scenes import CLASSES, SceneConfig, SceneDataset
from regionlab.engine.checkpoint import CheckpointError, load_checkpoint
from regionlab.engine.config import TrainConfig
from regionlab.engine.trainer import NonFiniteLossError, fit
from regionlab.models.segmentation.builders import SegmentationSpec
from regionlab.tasks.segmentation import SegmentationTask

CFG = SceneConfig(size=32, max_objects=2)


def _task(**kw):
    spec = SegmentationSpec(4, widths=[8, 16], **kw)
    return SegmentationTask(spec, (32, 32), CLASSES, scale=(0.8, 1.2))


def _data():
    return SceneDataset(12, config=CFG), SceneDataset(4, split="val", config=CFG)


def _cfg(**kw):
    base = dict(epochs=3, batch_size=4, eval_batch_size=4, lr=1e-2, progress=False, threads=1)
    return TrainConfig(**{**base, **kw})


class CrashAt:
    """Wraps a task and raises at a given step, like a process being killed."""

    def __init__(self, task, at):
        self.task, self.at, self.n = task, at, 0

    def __getattr__(self, k):
        return getattr(self.task, k)

    def step(self, model, batch, device):
        self.n += 1
        if self.n == self.at:
            raise KeyboardInterrupt("killed")
        return self.task.step(model, batch, device)


def test_resumed_run_equals_uninterrupted_run(tmp_path):
    tr, va = _data()
    cfg = _cfg(checkpoint_every=2)
    full = fit(_task(), tr, va, cfg, tmp_path / "full", log=lambda *_: None)
    with pytest.raises(KeyboardInterrupt):
        fit(CrashAt(_task(), at=6), tr, va, cfg, tmp_path / "cut", log=lambda *_: None)
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["state"]["step"] == 4  # mid-epoch
    resumed = fit(_task(), tr, va, cfg, tmp_path / "cut", resume=True, log=lambda *_: None)
    a = load_checkpoint(tmp_path / "full" / "last.pt")
    b = load_checkpoint(tmp_path / "cut" / "last.pt")
    assert full.steps == resumed.steps == 9
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert full.metrics["miou"] == resumed.metrics["miou"]


def test_loader_workers_train_the_same_weights_and_end_with_the_run(tmp_path):
    """Two persistent workers (started once, kept across the 3 epochs) augment exactly as the
    main process does, and a crash mid-run still ends them (no worker outlives its run)."""
    tr, va = _data()
    alone = fit(_task(), tr, va, _cfg(), tmp_path / "alone", log=lambda *_: None)
    workers = fit(_task(), tr, va, _cfg(num_workers=2), tmp_path / "w", log=lambda *_: None)
    a = load_checkpoint(tmp_path / "alone" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "w" / "last.pt")["model"]
    assert alone.steps == workers.steps == 9 and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(KeyboardInterrupt):
        fit(CrashAt(_task(), at=6), tr, va, _cfg(num_workers=2), tmp_path / "cut",
            log=lambda *_: None)  # fmt: skip
    children = multiprocessing.active_children()
    assert not children, children


SPOILS = {  # what a step's output becomes at its 5th call, and what the error says
    "loss": (lambda out, model: out.loss * float("nan"), r"loss \(nan\) at step 4 \(epoch 1"),
    # a finite loss whose gradient is not: sqrt at 0 is 0, its gradient inf x 0 = NaN
    "gradient": (
        lambda out, model: out.loss + torch.sqrt(next(model.parameters()).sum() * 0),
        r"gradient norm \(nan\) at step 4 \(epoch 1",
    ),
}


@pytest.mark.parametrize("spoil", list(SPOILS))
def test_non_finite_loss_or_gradients_stop_with_step_and_keep_last_good_checkpoint(tmp_path, spoil):
    tr, va = _data()
    task = _task()
    real_step = task.step
    calls = {"n": 0}
    change, phrase = SPOILS[spoil]

    def spoiled_at_5(model, batch, device):
        calls["n"] += 1
        out = real_step(model, batch, device)
        if calls["n"] == 5:
            out.loss = change(out, model)
        return out

    task.step = spoiled_at_5
    with pytest.raises(NonFiniteLossError, match=phrase + r", batch 1"):
        fit(task, tr, va, _cfg(checkpoint_every=1), tmp_path, log=lambda *_: None)
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["state"]["step"] == 4
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())


def test_a_resume_with_other_settings_is_refused_naming_each(tmp_path):
    tr, va = _data()
    with pytest.raises(KeyboardInterrupt):
        fit(CrashAt(_task(), at=6), tr, va, _cfg(checkpoint_every=2), tmp_path, log=lambda *_: None)
    with pytest.raises(CheckpointError, match=r"batch_size 4 \(now 2\), seed 0 \(now 1\):"):
        fit(_task(), tr, va, _cfg(checkpoint_every=2, batch_size=2, seed=1), tmp_path,
            resume=True, log=lambda *_: None)  # fmt: skip
    # what does not change the run's path may: threads, checkpoint and evaluation cadence
    done = fit(_task(), tr, va, _cfg(checkpoint_every=3, threads=2, eval_every=1), tmp_path,
               resume=True, log=lambda *_: None)  # fmt: skip
    assert done.steps == 9


def test_a_resume_of_a_run_killed_before_its_first_checkpoint_starts_it_over(tmp_path):
    tr, va = _data()
    quiet = {"log": lambda *_: None}
    full = fit(_task(), tr, va, _cfg(), tmp_path / "full", **quiet)
    with pytest.raises(KeyboardInterrupt):  # step 2 of 9, before any last.pt
        fit(CrashAt(_task(), at=2), tr, va, _cfg(), tmp_path / "cut", **quiet)
    assert (tmp_path / "cut" / "run.json").exists() and not (tmp_path / "cut" / "last.pt").exists()
    said = []
    again = fit(_task(), tr, va, _cfg(), tmp_path / "cut", resume=True, log=said.append)
    assert any("starting it over" in str(line) for line in said)
    assert again.steps == full.steps and again.metrics["miou"] == full.metrics["miou"]
    rows = [(tmp_path / d / "metrics.jsonl").read_text().count("\n") for d in ("full", "cut")]
    assert rows[0] == rows[1]  # the killed attempt's rows are gone, not doubled


def test_existing_run_is_not_overwritten_and_other_model_not_resumed(tmp_path):
    tr, va = _data()
    fit(_task(), tr, va, _cfg(epochs=1), tmp_path, log=lambda *_: None)
    with pytest.raises(FileExistsError, match="resume"):
        fit(_task(), tr, va, _cfg(epochs=1), tmp_path, log=lambda *_: None)
    with pytest.raises(CheckpointError, match="another model"):
        fit(
            _task(upsampler="nearest"),
            tr,
            va,
            _cfg(epochs=2),
            tmp_path,
            resume=True,
            log=lambda *_: None,
        )


def test_metrics_are_json_lines_and_best_is_saved(tmp_path):
    tr, va = _data()
    fit(_task(), tr, va, _cfg(epochs=2), tmp_path, log=lambda *_: None)
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert {r["split"] for r in rows} == {"train", "val"}
    assert all("miou" in r and "loss" in r for r in rows if r["split"] == "val")
    assert (tmp_path / "best.pt").exists()


def test_minutes_budget_stops_training(tmp_path):
    tr, va = _data()
    r = fit(_task(), tr, va, _cfg(epochs=None, minutes=0.02), tmp_path, log=lambda *_: None)
    assert 0 < r.seconds < 0.02 * 60 + 5


def test_growth_schedule_mid_training_and_resume_after_growth(tmp_path):
    tr, va = _data()
    cfg = _cfg(
        epochs=3,
        checkpoint_every=2,
        grow="epoch=1:wider(encoder.stages.0,2x); epoch=2:deeper(encoder.stages.1)",
    )
    full = fit(_task(), tr, va, cfg, tmp_path / "full", log=lambda *_: None)
    rows = [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    grows = [r for r in rows if r["split"] == "grow"]
    assert [r["epoch"] for r in grows] == [1, 2] and grows[1]["params"] > grows[0]["params"]
    # killed after the first growth, mid-epoch; the resumed run regrows and ends identical
    with pytest.raises(KeyboardInterrupt):
        fit(CrashAt(_task(), at=6), tr, va, cfg, tmp_path / "cut", log=lambda *_: None)
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["state"]["grown"] == 1
    resumed = fit(_task(), tr, va, cfg, tmp_path / "cut", resume=True, log=lambda *_: None)
    a = load_checkpoint(tmp_path / "full" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "cut" / "last.pt")["model"]
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert full.metrics["miou"] == resumed.metrics["miou"]


def test_grown_checkpoint_loads_for_evaluation(tmp_path):
    from regionlab.engine.growing import model_from_checkpoint

    tr, va = _data()
    fit(
        _task(),
        tr,
        va,
        _cfg(epochs=2, grow="epoch=1:wider(encoder.stages.1,2x)"),
        tmp_path,
        log=lambda *_: None,
    )
    ckpt = load_checkpoint(tmp_path / "last.pt")
    model = model_from_checkpoint(_task(), ckpt)
    assert model.encoder.stages[1][0][0].out_channels == 32


def test_bad_growth_schedule_fails_before_training(tmp_path):
    with pytest.raises(ValueError, match="growth schedule entry"):
        _cfg(grow="epoch=1:taller(encoder)").validate()


def test_train_epoch_trains_one_epoch_and_moves_the_state_on(tmp_path):
    from regionlab.engine.progress import ProgressBar
    from regionlab.engine.run import Run
    from regionlab.engine.trainer import train_epoch

    tr, va = _data()
    run = Run(_task(), tr, va, _cfg(), tmp_path, lambda *_: None, save=False)
    run.prepare_folder(resume=False)
    bar = ProgressBar(run.state, run.total_steps, run.budget, show=False)
    assert run.steps_per_epoch == 3
    assert train_epoch(run, bar)
    assert (run.state.epoch, run.state.batch, run.state.step) == (1, 0, 3)
    assert train_epoch(run, bar) and run.state.step == 6
    assert run.state.epoch_progress == pytest.approx(1 / 3)  # set at the epoch's start
    assert not (tmp_path / "last.pt").exists()  # save=False


def test_fit_writes_a_typed_checkpoint(tmp_path):
    from regionlab.engine.checkpoint import RunCheckpoint

    tr, va = _data()
    fit(_task(), tr, va, _cfg(epochs=1), tmp_path, log=lambda *_: None)
    last = RunCheckpoint.load(tmp_path / "last.pt", task="segment")
    assert last.resumable and last.state.step == 3 and last.state.epoch == 1
    assert last.state.best == last.state.last_eval and "miou" in last.state.best
    assert last.train_config() == _cfg(epochs=1)
    assert not RunCheckpoint.load(tmp_path / "best.pt").resumable
