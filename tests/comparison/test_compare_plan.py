"""``--models`` entries and the training job of each (model, seed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from regionlab.comparison.plan import Entry, parse_models, plan_jobs, split_entries


def test_entries_with_flags_and_labels():
    assert split_entries("a,b[--x 1,2],c") == ["a", "b[--x 1,2]", "c"]
    entries = parse_models("grid,faster-rcnn[--size 320 --no-fpn],small=grid[--size 64]", True)
    assert entries == [
        Entry("grid", "grid"),
        Entry("faster-rcnn", "faster-rcnn", ("--size", "320", "--no-fpn")),
        Entry("small", "grid", ("--size", "64")),
    ]
    # a task without --model: the name is only a label
    assert parse_models("lstm[--cell lstm]", False) == [Entry("lstm", None, ("--cell", "lstm"))]


@pytest.mark.parametrize(
    "text, message",
    [
        ("grid,grid[--size 64]", "given twice"),
        ("grid[--size 64", "never closed"),
        ("grid[--seed 3]", "--seed is set by the comparison"),
        ("grid[--out=x]", "--out is set by the comparison"),
        ("a b", "expected [LABEL=]MODEL[FLAGS]"),
        ("", "no model"),
    ],
)
def test_bad_entries_are_refused_by_name(text, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_models(text, True)


def test_one_job_per_model_and_seed_with_the_entry_flags_last():
    entries = parse_models("grid,w=sliding-window[--epochs 2]", True)
    jobs = plan_jobs("detect", entries, [0, 1], train_spec="T", tune_spec="V", runs=Path("/r"),
                     threads=2, minutes=1.5, flags=("--epochs", "1"))  # fmt: skip
    assert [j.name for j in jobs] == ["grid-s0", "grid-s1", "w-s0", "w-s1"]
    argv = list(jobs[3].argv)
    assert argv[:8] == ["train", "detect", "--data", "T", "--val", "V", "--seed", "1"]
    assert argv[argv.index("--threads") + 1] == "2" and argv[argv.index("--minutes") + 1] == "1.5"
    # --flags for every run, then the entry's own: argparse keeps the last, the entry's
    assert argv[-6:] == ["--model", "sliding-window", "--epochs", "1", "--epochs", "2"]
    assert jobs[3].dir == Path("/r/w-s1")
    with pytest.raises(ValueError, match="--threads is set by the comparison"):
        plan_jobs("detect", entries, [0], train_spec="T", tune_spec="V", runs=Path("/r"),
                  threads=1, minutes=None, flags=("--threads", "4"))  # fmt: skip
