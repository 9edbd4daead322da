import math

import pytest
import torch

from regionlab.data.sample import IGNORE_INDEX
from regionlab.eval.segmentation import ConfusionMatrix


def test_hand_computed_iou_and_accuracy():
    target = torch.tensor([[0, 0, 1, 1], [0, 0, 1, IGNORE_INDEX]])
    pred = torch.tensor([[0, 1, 1, 1], [0, 0, 0, 2]])
    cm = ConfusionMatrix(3)
    cm.update(pred[None], target[None])
    m = cm.compute(["a", "b", "c"])
    # class 0: TP 3, FP 1 (a 1 predicted 0), FN 1 (a 0 predicted 1) -> 3/5
    # class 1: TP 2, FP 1, FN 1 -> 2/4; class 2: only ignored pixel -> absent -> nan
    assert m["iou"]["a"] == pytest.approx(3 / 5)
    assert m["iou"]["b"] == pytest.approx(2 / 4)
    assert math.isnan(m["iou"]["c"])
    assert m["miou"] == pytest.approx((3 / 5 + 2 / 4) / 2)
    assert m["pixel_acc"] == pytest.approx(5 / 7)


def test_accumulates_over_batches_like_one_big_batch():
    g = torch.Generator().manual_seed(0)
    t = torch.randint(0, 4, (6, 8, 8), generator=g)
    p = torch.randint(0, 4, (6, 8, 8), generator=g)
    one, many = ConfusionMatrix(4), ConfusionMatrix(4)
    one.update(p, t)
    for i in range(6):
        many.update(p[i : i + 1], t[i : i + 1])
    assert torch.equal(one.counts, many.counts)


def test_perfect_prediction_scores_one():
    t = torch.randint(0, 3, (2, 5, 5))
    cm = ConfusionMatrix(3)
    cm.update(t.clone(), t)
    m = cm.compute()
    assert m["miou"] == 1.0 and m["pixel_acc"] == 1.0


def test_out_of_range_target_is_an_error():
    with pytest.raises(ValueError, match="outside"):
        ConfusionMatrix(2).update(torch.zeros(1, 2, 2, dtype=torch.long), torch.full((1, 2, 2), 5))
