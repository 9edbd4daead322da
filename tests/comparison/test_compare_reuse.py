"""``--reuse`` counts a run only when a commit names the code that trained it: the same commit
with uncommitted changes on one side only is other code."""

from __future__ import annotations

import json

import pytest

from regionlab.comparison.plan import Job
from regionlab.comparison.reuse import check_runs, expected_command

COMMIT = "a" * 40


def _job(tmp_path, name: str, dirty: bool) -> Job:
    d = tmp_path / name
    d.mkdir()
    job = Job("fcn", 0, d, ("train", "segment", "--data", "scenes"))
    record = {"command": expected_command(job), "git": {"commit": COMMIT, "dirty": dirty}}
    (d / "run.json").write_text(json.dumps(record))
    return job


def test_uncommitted_changes_on_one_side_only_are_other_code(tmp_path):
    clean, dirty = _job(tmp_path, "clean", False), _job(tmp_path, "dirty", True)
    check_runs([clean], allow_mixed_commits=False, commit=COMMIT, dirty=False)
    with pytest.raises(ValueError, match="it was run from a tree with uncommitted changes"):
        check_runs([dirty], allow_mixed_commits=False, commit=COMMIT, dirty=False)
    with pytest.raises(ValueError, match="this comparison is run from a tree with uncommitted"):
        check_runs([clean], allow_mixed_commits=False, commit=COMMIT, dirty=True)
    check_runs([clean, dirty], allow_mixed_commits=True, commit=COMMIT, dirty=False)  # told to


def test_both_with_uncommitted_changes_are_counted_with_a_warning(tmp_path):
    said = []
    check_runs([_job(tmp_path, "dirty", True)], allow_mixed_commits=False, commit=COMMIT,
               dirty=True, say=said.append)  # fmt: skip
    assert len(said) == 1 and "fcn-s0" in said[0] and "cannot be told" in said[0]
