"""The bad-input matrix of issue 21: every reader's bad input, each row either loading as
stated or refused before training with a :class:`DataError` naming the file, the entry and the
problem, and under ``skip_bad`` left out and counted (the rows: ``matrix_cases_*.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from matrix_cases_coco import BAD_COCO, GOOD_COCO
from matrix_cases_files import BAD_FILES
from matrix_goods_files import GOOD_FILES
from matrix_harness import Bad, Good, assert_names, problem

BAD: list[Bad] = [*BAD_COCO, *BAD_FILES]
GOOD: list[Good] = [*GOOD_COCO, *GOOD_FILES]


@pytest.mark.parametrize("case", BAD, ids=[c.id for c in BAD])
def test_refused_naming_file_entry_and_problem(tmp_path: Path, case: Bad) -> None:
    opener = case.build(tmp_path)
    err, _ = problem(opener)
    assert_names(err, case)
    again, left_out = problem(opener, skip_bad=True)
    assert str(again) == str(err)
    # skip_bad leaves the bad sample out and counts it; a file unusable as a whole still raises
    assert left_out == (0 if case.structural else 1)


@pytest.mark.parametrize("case", GOOD, ids=[c.id for c in GOOD])
def test_loads_as_stated(tmp_path: Path, case: Good) -> None:
    case.check(tmp_path)


def test_the_matrix_is_large_and_its_ids_unique() -> None:
    ids = [c.id for c in (*BAD, *GOOD)]
    assert len(set(ids)) == len(ids) >= 60
