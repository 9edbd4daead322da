"""Atomic writes (``regionlab.atomic``), usable from any room without importing the engine."""

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
