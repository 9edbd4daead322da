"""A checkpoint or metrics write that fails (full disk, read-only or forbidden folder) stops the
run with one message naming the file and the cause; the previous ``last.pt`` and metrics stay
as they were, and no partial or temporary file is left. The command line exits 74."""

from __future__ import annotations

import errno
import json
import os

import pytest
import torch

from regionlab import atomic
from regionlab.atomic import WriteError
from regionlab.cli.main import WRITE_FAILED, main
from regionlab.engine.checkpoint import load_checkpoint

TRAIN = ["train", "segment", "--data", "scenes:size=32,n=8", "--val", "scenes:size=32,n=2",
         "--widths", "8,16", "--scale", "1", "1", "--epochs", "3", "--batch-size", "4",
         "--threads", "1"]  # fmt: skip


def _fail(code: int):
    raise OSError(code, os.strerror(code))


def fail_checkpoint_write(monkeypatch, after: int, code: int) -> None:
    """The checkpoint writes after the first ``after`` fail with ``code`` (the bytes written
    so far are on disk, as on a disk that fills up mid-write)."""
    real, calls = torch.save, []

    def save(obj, f, *args, **kw):
        calls.append(1)
        if len(calls) > after:
            f.write(b"PK\x03\x04 partial")
            _fail(code)
        return real(obj, f, *args, **kw)

    monkeypatch.setattr(torch, "save", save)


def _rows(run) -> list[str]:
    return (run / "metrics.jsonl").read_text().splitlines()


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_a_failed_checkpoint_write_stops_the_run_and_keeps_the_last_one(
    tmp_path, monkeypatch, capsys, code
):
    run = tmp_path / "run"
    fail_checkpoint_write(monkeypatch, after=2, code=code)  # last.pt, best.pt of epoch 1
    assert main([*TRAIN, "--out", str(run)]) == WRITE_FAILED
    err = capsys.readouterr().err.strip()
    name = errno.errorcode[code]
    assert err.startswith(f"regionlab: error: {run}/") and "\n" not in err
    assert f"cannot write ({os.strerror(code)} [{name}])" in err
    assert load_checkpoint(run / "last.pt")["state"]["step"] == 2  # epoch 1's, whole
    assert not list(run.glob(".*.tmp"))
    assert all(json.loads(r) for r in _rows(run))


def test_a_failed_metrics_write_stops_the_run_with_whole_lines(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    real, rows = os.write, []

    def write(fd, data):
        if not bytes(data).startswith(b'{"epoch"'):  # not a row of metrics.jsonl
            return real(fd, data)
        rows.append(1)
        if len(rows) > 3:  # train row of step 1, val row of epoch 1, train row...: the 4th
            real(fd, bytes(data[:7]))
            _fail(errno.ENOSPC)
        return real(fd, data)

    monkeypatch.setattr(atomic.os, "write", write)
    assert main([*TRAIN, "--out", str(run), "--eval-every", "1"]) == WRITE_FAILED
    assert (
        "metrics.jsonl: cannot write (No space left on device [ENOSPC])" in capsys.readouterr().err
    )
    lines = _rows(run)
    assert len(lines) == 3 and all(json.loads(r) for r in lines)
    assert (run / "metrics.jsonl").read_text().endswith("\n")
    ckpt = load_checkpoint(run / "last.pt")
    assert ckpt["state"]["step"] >= 2 and all(
        torch.isfinite(v).all() for v in ckpt["model"].values()
    )


def test_a_read_only_output_folder_stops_before_training(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    monkeypatch.setattr(atomic.tempfile, "mkstemp", lambda **kw: _fail(errno.EROFS))
    with pytest.raises(WriteError, match=f"{run / 'run.json'}: cannot write .*EROFS.*read-only"):
        import regionlab

        regionlab.train("segment", "scenes:size=32,n=8", val="scenes:size=32,n=2", out=str(run),
                        widths=[8, 16], epochs=1, batch_size=4, threads=1)  # fmt: skip
    assert not (run / "last.pt").exists() and not (run / "metrics.jsonl").exists()


def test_an_output_folder_that_cannot_be_made_is_named(tmp_path, monkeypatch, capsys):
    run = tmp_path / "ro" / "run"
    monkeypatch.setattr(atomic.Path, "mkdir", lambda *a, **kw: _fail(errno.EROFS))
    assert main([*TRAIN, "--out", str(run)]) == WRITE_FAILED
    err = capsys.readouterr().err
    assert f"regionlab: error: {run}: cannot write (Read-only file system [EROFS])" in err
