"""Proposal recall and MABO on hand-made cases with exact answers."""

import math

import pytest
import torch

from regionlab.eval.proposals import best_overlaps, proposal_recall


def _t(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32).reshape(-1, 4)


# Image A: two objects. Its ranked proposals hit g1 with IoU 0.5 (half of it, exactly), then g2
# exactly, then g1 with IoU 0.8. Image B: one object, hit with IoU 0.25 then 0.75. Image C: no
# object, one proposal (counted in the proposal numbers only).
PROPOSALS = [
    _t([[0, 0, 10, 5], [20, 20, 40, 40], [0, 0, 10, 8]]),
    _t([[0, 0, 4, 1], [0, 0, 4, 3]]),
    _t([[1, 1, 5, 5]]),
]
GTS = [_t([[0, 0, 10, 10], [20, 20, 40, 40]]), _t([[0, 0, 4, 4]]), _t([])]
LABELS = [torch.tensor([1, 2]), torch.tensor([1]), torch.tensor([], dtype=torch.long)]
TOPS = (1, 2, None)


def test_best_overlaps_per_top_n():
    best = best_overlaps(PROPOSALS[0], GTS[0], TOPS)
    assert best.tolist() == [[0.5, 0.0], [0.5, 1.0], [0.8, 1.0]]
    assert best_overlaps(_t([]), GTS[0], TOPS).tolist() == [[0.0, 0.0]] * 3
    assert best_overlaps(PROPOSALS[0], _t([]), TOPS).shape == (3, 0)


def test_recall_and_mabo_exact():
    r = proposal_recall(PROPOSALS, GTS, (0.5, 0.7), TOPS)
    assert (r["images"], r["images_with_gt"], r["gt_boxes"]) == (3, 2, 3)
    assert r["mean_proposals"] == 2.0
    assert r["mean_proposals_used"] == pytest.approx({"1": 1.0, "2": 5 / 3, "all": 2.0})
    # IoU 0.5 counts at threshold 0.5 (>=).
    assert r["recall"]["0.5"] == pytest.approx({"1": 1 / 3, "2": 1.0, "all": 1.0})
    assert r["recall"]["0.7"] == pytest.approx({"1": 0.0, "2": 2 / 3, "all": 1.0})
    assert r["mabo"] == pytest.approx({"1": 0.75 / 3, "2": 2.25 / 3, "all": 2.55 / 3})
    assert "abo_per_class" not in r


def test_per_class_abo_and_the_papers_mabo():
    r = proposal_recall(PROPOSALS, GTS, (0.5,), TOPS, labels=LABELS)
    assert r["abo_per_class"]["1"] == pytest.approx({"1": 0.375, "2": 0.625, "all": 0.775})
    assert r["abo_per_class"]["2"] == pytest.approx({"1": 0.0, "2": 1.0, "all": 1.0})
    assert r["mabo_class_mean"] == pytest.approx({"1": 0.1875, "2": 0.8125, "all": 0.8875})
    # The box-mean MABO weighs class 1 twice here, the class mean does not.
    assert r["mabo"]["all"] == pytest.approx(0.85)


def test_top_n_above_the_count_uses_all_and_order_matters():
    r = proposal_recall(PROPOSALS, GTS, (0.7,), (2000, None))
    assert r["recall"]["0.7"]["2000"] == r["recall"]["0.7"]["all"] == 1.0
    # Reversing image A's ranking moves its best g1 box first.
    flipped = [PROPOSALS[0].flip(0), *PROPOSALS[1:]]
    assert proposal_recall(flipped, GTS, (0.7,), (1,))["recall"]["0.7"]["1"] == pytest.approx(1 / 3)


def test_no_ground_truth_is_nan_and_mismatches_are_refused():
    r = proposal_recall(PROPOSALS[2:], GTS[2:])
    assert r["gt_boxes"] == 0 and math.isnan(r["recall"]["0.5"]["all"])
    assert math.isnan(r["mabo"]["100"]) and r["mean_proposals"] == 1.0
    with pytest.raises(ValueError, match="proposal lists"):
        proposal_recall(PROPOSALS[:2], GTS)
    with pytest.raises(ValueError, match="labels"):
        proposal_recall(PROPOSALS, GTS, labels=[torch.tensor([1]), LABELS[1], LABELS[2]])
