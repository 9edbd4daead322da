"""``regionlab train``: run.json holds the exact command, every flag and the data specs;
``--tensorboard`` (or ``tensorboard: true`` in --config) writes event files."""

import json
import shlex
import sys

import pytest

from regionlab.cli.main import build_parser, main
from regionlab.cli.prepare import train_config
from regionlab.data.scenes import CLASSES

BASE = ["train", "segment", "--data", "scenes:size=32,n=8", "--val", "scenes:size=32,n=4"]
TINY = ["--widths", "8,16", "--epochs", "1", "--batch-size", "4", "--threads", "1"]


def test_run_json_of_a_short_scenes_run(tmp_path, monkeypatch, capsys):
    pytest.importorskip("tensorboard")
    run = tmp_path / "run"
    argv = [*BASE, *TINY, "--out", str(run), "--scale", "1", "1", "--tensorboard"]
    monkeypatch.setattr(sys, "argv", ["regionlab", *argv])
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "model: " in out and "GFLOPs per image (training forward at 3x32x32)" in out
    rec = json.loads((run / "run.json").read_text())
    assert rec["command"] == shlex.join(["regionlab", *argv])
    flags = rec["flags"]
    assert flags["data"] == "scenes:size=32,n=8" and flags["val"] == "scenes:size=32,n=4"
    assert flags["widths"] == [8, 16] and flags["scale"] == [1.0, 1.0] and "func" not in flags
    assert rec["classes"] == list(CLASSES) and rec["task"] == "segment"
    assert rec["config"]["tensorboard"] is True and rec["config"]["batch_size"] == 4
    assert rec["model"]["parameters"] > 0 and rec["model"]["gflops_per_image"] > 0
    assert any((run / "tensorboard").iterdir())


def test_tensorboard_flag_and_config_key(tmp_path):
    parse = build_parser().parse_args
    assert train_config(parse([*BASE, "--tensorboard"]), {}).tensorboard is True
    assert train_config(parse(BASE), {}).tensorboard is False
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("tensorboard: true\n")
    assert train_config(parse([*BASE, "--config", str(cfg)]), {}).tensorboard is True
