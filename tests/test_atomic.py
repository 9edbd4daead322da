"""Atomic writes (``regionlab.atomic``), usable from any room without importing the engine."""

import errno
import os
import subprocess
import sys

import pytest
import torch

from regionlab import atomic


def test_save_and_text_writes_replace_whole_files(tmp_path):
    p = tmp_path / "sub" / "x.pt"
    atomic.save_atomic({"w": torch.ones(3)}, p)  # creates the folder
    atomic.save_atomic({"w": torch.zeros(3)}, p)
    assert torch.equal(torch.load(p, weights_only=True)["w"], torch.zeros(3))
    t = tmp_path / "s.json"
    atomic.write_text_atomic(t, "{}")
    atomic.write_text_atomic(t, '{"a": 1}')
    assert t.read_text() == '{"a": 1}'
    assert sorted(os.listdir(tmp_path)) == ["s.json", "sub"]  # no temporaries left


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_new_files_get_the_umask_s_permissions_and_rewrites_keep_theirs(tmp_path, umask):
    # mkstemp's temporary is 0o600: renamed as it is, a report or checkpoint would be private
    writes = {
        "x.pt": lambda p: atomic.save_atomic({"w": torch.ones(1)}, p),
        "s.json": lambda p: atomic.write_text_atomic(p, "{}"),
        "f.png": lambda p: atomic.write_bytes_atomic(p, b"png"),
    }
    old = os.umask(umask)
    try:
        for name, write in writes.items():
            write(tmp_path / name)
            assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name
            (tmp_path / name).chmod(0o640)
            write(tmp_path / name)
            assert (tmp_path / name).stat().st_mode & 0o777 == 0o640, name
    finally:
        os.umask(old)


def test_a_failed_text_write_keeps_the_old_file(tmp_path):
    t = tmp_path / "s.json"
    atomic.write_text_atomic(t, "old")

    with pytest.raises(TypeError):
        atomic.write_text_atomic(t, 3)  # not text: nothing replaced
    assert t.read_text() == "old" and os.listdir(tmp_path) == ["s.json"]


def test_ops_imports_no_engine():
    # ops/ may import only torch/torchvision (and these stdlib helpers), never the engine.
    code = (
        "import sys, regionlab.ops.proposals; "
        "print([m for m in sys.modules if m.startswith('regionlab.engine')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


class FullDisk:
    """A file whose writes fail with ENOSPC after ``room`` bytes (some data did reach it)."""

    def __init__(self, f, room: int) -> None:
        self.f, self.room = f, room

    def write(self, data) -> int:
        if len(data) > self.room:
            self.f.write(bytes(data[: self.room]))
            self.room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def test_a_full_disk_keeps_the_previous_checkpoint_and_no_temporary(tmp_path, monkeypatch):
    p = tmp_path / "last.pt"
    atomic.save_atomic({"w": torch.ones(3)}, p)
    real = os.fdopen
    monkeypatch.setattr(atomic.os, "fdopen", lambda fd, mode: FullDisk(real(fd, mode), 100))
    with pytest.raises(atomic.WriteError) as info:
        atomic.save_atomic({"w": torch.zeros(10_000)}, p)
    assert str(info.value).startswith(f"{p}: cannot write (No space left on device [ENOSPC])")
    assert "the disk is full" in str(info.value) and info.value.errno == errno.ENOSPC
    assert torch.equal(torch.load(p, weights_only=True)["w"], torch.ones(3))
    assert os.listdir(tmp_path) == ["last.pt"]


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES])
def test_a_read_only_or_forbidden_folder_is_named_with_its_cause(tmp_path, monkeypatch, code):
    p = tmp_path / "run.json"
    atomic.write_text_atomic(p, "old")

    def refuse(*args, **kw):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    for write in (lambda: atomic.write_text_atomic(p, "new"), lambda: atomic.save_atomic({}, p)):
        with pytest.raises(atomic.WriteError, match=f"{p}: cannot write .*{errno.errorcode[code]}"):
            write()
    assert p.read_text() == "old" and os.listdir(tmp_path) == ["run.json"]


def test_a_failed_rename_leaves_no_temporary(tmp_path, monkeypatch):
    p = tmp_path / "last.pt"
    atomic.save_atomic({"w": torch.ones(3)}, p)

    def refuse(*args):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(atomic.os, "replace", refuse)
    with pytest.raises(atomic.WriteError, match="EACCES.*no permission"):
        atomic.save_atomic({"w": torch.zeros(3)}, p)
    assert os.listdir(tmp_path) == ["last.pt"]


def test_an_append_that_fails_midway_is_cut_back(tmp_path, monkeypatch):
    log = tmp_path / "metrics.jsonl"
    atomic.append_line(log, '{"step": 1}')
    real = os.write

    def half_then_full(fd, data):
        real(fd, bytes(data[:5]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.os, "write", half_then_full)
    with pytest.raises(atomic.WriteError, match="metrics.jsonl: cannot write .*ENOSPC"):
        atomic.append_line(log, '{"step": 2, "loss": 0.5}')
    assert log.read_text() == '{"step": 1}\n'
    monkeypatch.undo()
    atomic.append_line(log, '{"step": 2}')
    assert log.read_text().splitlines() == ['{"step": 1}', '{"step": 2}']


def test_naming_a_write_error_needs_no_torch():
    code = "import sys, regionlab.atomic; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
