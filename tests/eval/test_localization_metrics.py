"""Localization metrics on hand-made cases."""

import pytest
import torch

from regionlab.eval.localization import localization_metrics


def test_accuracy_mean_iou_and_localization_accuracy():
    gt_boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0]] * 4)
    pred_boxes = torch.tensor(
        [
            [0.0, 0.0, 10.0, 10.0],  # IoU 1
            [0.0, 0.0, 10.0, 5.0],  # IoU 0.5: counts (>=)
            [5.0, 0.0, 15.0, 10.0],  # IoU 50/150 = 1/3
            [0.0, 0.0, 10.0, 10.0],  # IoU 1 but the class is wrong
        ]
    )
    m = localization_metrics(
        torch.tensor([1, 2, 1, 0]), pred_boxes, torch.tensor([1, 2, 1, 1]), gt_boxes
    )
    assert m["acc"] == 0.75
    assert m["mean_iou"] == pytest.approx((1 + 0.5 + 1 / 3 + 1) / 4)
    assert m["loc_acc"] == 0.5  # samples 0 and 1
    assert m["n"] == 4


def test_iou_is_unchanged_by_warping_so_normalised_boxes_agree():
    gt = torch.tensor([[10.0, 20.0, 50.0, 60.0]])
    pred = torch.tensor([[20.0, 20.0, 60.0, 70.0]])
    scale = torch.tensor([1 / 200, 1 / 80, 1 / 200, 1 / 80])
    a = localization_metrics(torch.tensor([0]), pred, torch.tensor([0]), gt)
    b = localization_metrics(torch.tensor([0]), pred * scale, torch.tensor([0]), gt * scale)
    assert a["mean_iou"] == pytest.approx(b["mean_iou"])


def test_degenerate_prediction_and_empty_input():
    m = localization_metrics(
        torch.tensor([0]), torch.tensor([[5.0, 5.0, 5.0, 5.0]]), torch.tensor([0]),
        torch.tensor([[0.0, 0.0, 10.0, 10.0]]),
    )  # fmt: skip
    assert m["mean_iou"] == 0.0 and m["loc_acc"] == 0.0 and m["acc"] == 1.0
    empty = torch.zeros((0, 4))
    e = localization_metrics(torch.zeros(0, dtype=torch.long), empty, torch.zeros(0), empty)
    assert e == {"acc": 0.0, "mean_iou": 0.0, "loc_acc": 0.0, "n": 0}
