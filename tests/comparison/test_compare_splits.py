"""The report, tune and train splits of a comparison: disjoint, the same on every call, and a
folder holding other splits is refused."""

from __future__ import annotations

import pytest

from regionlab.api.subsets import read_subset
from regionlab.comparison.splits import carve, fractions

DATA = "scenes:size=32,n=20"


def _indices(spec: str) -> set[int]:
    return set(read_subset(spec.split("subset=")[1]).indices)


def test_report_tune_and_train_are_disjoint_and_cover_the_data(tmp_path):
    s = carve(DATA, None, tmp_path / "splits", report_fraction=0.2, tune_fraction=0.1, seed=3)
    report, tune, train = _indices(s.report), _indices(s.tune), _indices(s.train)
    assert (len(report), len(tune), len(train)) == (4, 2, 14)
    assert not (report & tune) and not (report & train) and not (tune & train)
    assert report | tune | train == set(range(20))
    assert "4 of 20" in s.notes["report"] and "never trained on" in s.notes["report"]
    # again into the same folder: the same files, accepted
    assert carve(DATA, None, tmp_path / "splits", seed=3) == s
    # another seed would name other images: refused
    with pytest.raises(ValueError, match="another split"):
        carve(DATA, None, tmp_path / "splits", seed=4)


def test_with_val_the_numbers_are_on_val_and_tune_comes_from_data(tmp_path):
    s = carve(DATA, "scenes:size=32,n=8", tmp_path / "splits", tune_fraction=0.25)
    assert s.report == "scenes:size=32,n=8" and "--val" in s.notes["report"]
    assert len(_indices(s.tune)) == 5 and len(_indices(s.train)) == 15
    assert not (tmp_path / "splits" / "report.json").exists()


def test_fractions_that_leave_nothing_to_train_on_are_refused():
    assert fractions(10, 0.2, 0.1) == (2, 1)
    assert fractions(10, None, 0.1) == (0, 1)
    with pytest.raises(ValueError, match="leaves none to train on"):
        fractions(3, 0.5, 0.5)
    with pytest.raises(ValueError, match="--report-fraction must be between 0 and 1"):
        fractions(10, 1.5, 0.1)
