import os
import pickle

import pytest
import torch

from regionlab.engine import checkpoint as ck
from regionlab.engine.checkpoint import CheckpointError, load_checkpoint, save_atomic


def _ckpt(step=1):
    return {"format": 1, "task": "segment", "spec": {"a": 1}, "model": {"w": torch.ones(2) * step}}


def test_round_trip(tmp_path):
    p = tmp_path / "last.pt"
    save_atomic(_ckpt(3), p)
    assert torch.equal(load_checkpoint(p, task="segment")["model"]["w"], torch.full((2,), 3.0))


def test_crash_during_write_keeps_the_previous_file(tmp_path, monkeypatch):
    p = tmp_path / "last.pt"
    save_atomic(_ckpt(1), p)

    def torn_save(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(ck.torch, "save", torn_save)
    with pytest.raises(OSError):
        save_atomic(_ckpt(2), p)
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(p)["model"]["w"], torch.ones(2))
    assert os.listdir(tmp_path) == ["last.pt"]  # no temporary file left behind


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = tmp_path / "evil.pt"
    with open(p, "wb") as f:
        pickle.dump({"format": 1, "task": "segment", "x": _Evil()}, f)
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_checkpoint(p)
    assert not (tmp_path / "pwned").exists()


def test_other_task_and_garbage_are_refused(tmp_path):
    p = tmp_path / "a.pt"
    save_atomic(_ckpt(), p)
    with pytest.raises(CheckpointError, match="for task 'segment', not 'localize'"):
        load_checkpoint(p, task="localize")
    g = tmp_path / "g.pt"
    g.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="g.pt"):
        load_checkpoint(g)
    torch.save({"just": "a dict"}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="not a regionlab checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")


def test_different_model_spec_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="upsampler"):
        ck.check_same_model(
            {"spec": {"upsampler": "nearest", "n": 2}}, {"upsampler": "bilinear", "n": 2}, "x.pt"
        )


# --------------------------------------------------------------------------- the typed checkpoint


def _legacy_last(tmp_path, **state_extra):
    """A last.pt exactly as trainer.py wrote it before RunCheckpoint: a plain dict."""
    from regionlab.engine import runtime
    from regionlab.engine.config import TrainConfig

    model = torch.nn.Linear(2, 1)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.ones(1, 2)).sum().backward()
    opt.step()
    state = {"epoch": 1, "batch": 2, "step": 5, "elapsed": 1.5, "best": {"miou": 0.5}}
    state.update({"last_eval": {"miou": 0.25}, "grown": 0, **state_extra})
    raw = {
        "format": 1,
        "task": "segment",
        "spec": {"a": 1},
        "config": TrainConfig().to_dict(),
        "model": model.state_dict(),
        "state": state,
        "optimizer": opt.state_dict(),
        "rng": runtime.rng_state(),
    }
    p = tmp_path / "last.pt"
    torch.save(raw, p)
    return p, raw


def test_a_checkpoint_written_by_the_old_trainer_loads_typed(tmp_path):
    p, raw = _legacy_last(tmp_path, epoch_progress=0.25)
    c = ck.RunCheckpoint.load(p, task="segment")
    assert (c.format, c.task, c.spec, c.config) == (1, "segment", {"a": 1}, raw["config"])
    assert c.state == ck.RunState(1, 2, 5, 1.5, {"miou": 0.5}, {"miou": 0.25}, 0, 0.25)
    assert torch.equal(c.model["weight"], raw["model"]["weight"])
    assert c.resumable and c.optimizer["state"].keys() == raw["optimizer"]["state"].keys()
    assert c.train_config(progress=False).progress is False
    # older still: no epoch_progress in the state (the default, 0, is what the loop read then)
    p, _ = _legacy_last(tmp_path)
    assert ck.RunCheckpoint.load(p).state.epoch_progress == 0.0


def test_typed_round_trip_writes_the_same_plain_dict(tmp_path):
    p, raw = _legacy_last(tmp_path, epoch_progress=0.25)
    c = ck.RunCheckpoint.load(p)
    q = tmp_path / "again.pt"
    c.save(q)
    again = load_checkpoint(q)  # a plain dict: torch.load(weights_only=True) reads it
    # the same state, plus the keys newer states have, at their defaults (a fixed step count:
    # none yet)
    new_keys = {"planned_steps": 0, "schedule_start": 0}
    assert sorted(again) == sorted(raw) and again["state"] == {**raw["state"], **new_keys}
    best = ck.RunCheckpoint("segment", {"a": 1}, {}, {"w": torch.ones(2)})
    best.save(tmp_path / "best.pt")
    assert "optimizer" not in load_checkpoint(tmp_path / "best.pt")
    assert not ck.RunCheckpoint.load(tmp_path / "best.pt").resumable


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.pop("model"), "lacks field.*model"),
        (lambda d: d.update(spec=[1]), "spec must be a dict"),
        (lambda d: d.update(format=7), "format 7 is not readable"),
        (lambda d: d.update(extra=1), "unknown checkpoint field.*extra"),
        (lambda d: d["state"].update(epochs=3), "unknown run state key.*epochs"),
        (lambda d: d["state"].update(step=-1), "step must be an integer"),
        (lambda d: d["model"].update(w="x"), "not tensors: w"),
        (lambda d: d.pop("rng"), "only one of optimizer and rng"),
    ],
)
def test_malformed_checkpoints_are_refused_naming_the_file(tmp_path, change, message):
    p, raw = _legacy_last(tmp_path)
    change(raw)
    torch.save(raw, p)
    with pytest.raises(CheckpointError, match=f"last.pt.*{message}"):
        ck.RunCheckpoint.load(p)


def test_typed_load_refuses_other_tasks_code_and_garbage(tmp_path, monkeypatch):
    p, _ = _legacy_last(tmp_path)
    with pytest.raises(CheckpointError, match="for task 'segment', not 'detect'"):
        ck.RunCheckpoint.load(p, task="detect")
    monkeypatch.chdir(tmp_path)
    with open(tmp_path / "evil.pt", "wb") as f:
        pickle.dump({"format": 1, "task": "segment", "x": _Evil()}, f)
    with pytest.raises(CheckpointError, match="evil.pt"):
        ck.RunCheckpoint.load(tmp_path / "evil.pt")
    assert not (tmp_path / "pwned").exists()
    (tmp_path / "torn.pt").write_bytes(p.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="torn.pt"):
        ck.RunCheckpoint.load(tmp_path / "torn.pt")
