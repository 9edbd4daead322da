"""The table of task families and their ``eval`` / ``predict`` options: each family declares
its own, ``regionlab`` takes them to the family's hooks, and refuses them for another family."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest

from regionlab.cli.main import build_parser, main
from regionlab.cli.taskcli import Option, TaskCLI, add_options, option_values
from regionlab.cli.tasks import TASKS


def _family(name: str, **kw) -> TaskCLI:
    return TaskCLI(name, "a family", lambda p: None, None, None, **kw)


SHOUT = Option("--shout", "how loud", type=int)
WORDS = Option("--words", "a sentence", required=True)
FAMILIES = [
    _family("quiet"),
    _family("loud", eval_options=(SHOUT,)),
    _family("louder", eval_options=(SHOUT,), predict_options=(WORDS,)),
]


def test_each_option_is_declared_once_naming_its_families():
    p = argparse.ArgumentParser()
    add_options(p, FAMILIES, "eval")
    help_text = " ".join(p.format_help().split())
    assert help_text.count("--shout SHOUT") == 2  # usage line and its entry
    assert "loud and louder checkpoints: how loud" in help_text


def test_option_values_go_to_their_family_by_name():
    args = argparse.Namespace(shout=0, words=None)
    assert option_values(args, FAMILIES[1], FAMILIES, "eval", "x.pt") == {"shout": 0}
    assert option_values(argparse.Namespace(), FAMILIES[0], FAMILIES, "eval", "x.pt") == {}


def test_another_familys_option_is_refused_and_a_required_one_asked_for():
    refused = "--shout is for loud and louder checkpoints; q.pt is a checkpoint of quiet"
    with pytest.raises(ValueError, match=refused):
        option_values(argparse.Namespace(shout=0), FAMILIES[0], FAMILIES, "eval", "q.pt")
    with pytest.raises(ValueError, match="l.pt is a checkpoint of louder: give --words"):
        option_values(argparse.Namespace(words=None), FAMILIES[2], FAMILIES, "predict", "l.pt")


def test_a_new_family_needs_only_its_line_in_the_table(monkeypatch, capsys):
    monkeypatch.setitem(TASKS, "loud", FAMILIES[1])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["eval", "--help"])
    assert "loud checkpoints: how loud" in " ".join(capsys.readouterr().out.split())
    args = build_parser().parse_args(["train", "loud", "--data", "scenes", "--epochs", "1"])
    assert args.task == "loud" and args.epochs == 1


def test_the_table_names_each_family_by_its_own_name():
    assert list(TASKS) == [
        "segment", "localize", "keypoints", "detect", "instance", "caption", "align"
    ]  # fmt: skip
    assert all(name == cli.name for name, cli in TASKS.items())


@pytest.fixture(scope="module")
def segment_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("seg") / "run"
    args = ["train", "segment", "--data", "scenes:size=32,n=4", "--val", "scenes:size=32,n=2"]
    args += ["--widths", "8,16", "--batch-size", "2", "--threads", "1", "--epochs", "1"]
    assert main([*args, "--out", str(run)]) == 0
    return run


def test_options_of_other_families_are_refused_in_our_words(segment_run, tmp_path, capsys):
    best = str(segment_run / "best.pt")
    ev = ["eval", best, "--data", "scenes:size=32,n=2"]
    assert main([*ev, "--beam", "2"]) == 2
    assert (
        f"--beam is for caption checkpoints; {best} is a checkpoint of segment"
        in capsys.readouterr().err
    )
    assert main([*ev, "--save-json", str(tmp_path / "r.json")]) == 2
    assert "--save-json is for detect and instance checkpoints" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()
    main(["data", "show", "scenes:size=32,n=1", "--out", str(tmp_path / "s"), "--n", "1"])
    img = shutil.copy(tmp_path / "s" / "sample_000.png", tmp_path / "a.png")
    pred = ["predict", best, str(img), "--out", str(tmp_path / "p")]
    assert main([*pred, "--text", "a red circle"]) == 2
    assert "--text is for align checkpoints" in capsys.readouterr().err


def test_eval_out_is_written_whole(segment_run, tmp_path, capsys):
    out = tmp_path / "m.json"
    assert main(["eval", str(segment_run / "best.pt"), "--data", "scenes:size=32,n=2",
                 "--out", str(out)]) == 0  # fmt: skip
    assert 0 <= json.loads(out.read_text())["miou"] <= 1
    assert not list(tmp_path.glob(".*.tmp"))
