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
