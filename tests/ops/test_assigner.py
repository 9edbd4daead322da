"""TaskAlignedAssigner on hand-made cases: candidates, top-k, one ground truth per point, soft
targets, small-box enlargement, crowds."""

import pytest
import torch
from torchvision.ops import box_iou

from regionlab.ops.anchors import grid_centres
from regionlab.ops.assigner import TaskAlignedAssigner, points_in_boxes
from regionlab.ops.detections import Detections
from regionlab.ops.matcher import BACKGROUND, IGNORE

# A 4 x 4 grid of stride 8 on a 32 x 32 image: centres at 4, 12, 20, 28; point i * 4 + j is
# (x, y) = (4 + 8 j, 4 + 8 i).
POINTS = grid_centres((4, 4), 8)


def _boxes_around(points: torch.Tensor, size: float) -> torch.Tensor:
    return torch.cat((points - size / 2, points + size / 2), 1)


def _gt(boxes, labels, crowd=None) -> Detections:
    b = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    return Detections(
        b,
        torch.tensor(labels, dtype=torch.int64),
        iscrowd=None if crowd is None else torch.tensor(crowd),
    )


def test_points_in_boxes_is_strict():
    inside = points_in_boxes(torch.tensor([[4.0, 4.0], [8.0, 4.0]]), torch.tensor([[0.0, 0, 8, 8]]))
    assert inside.tolist() == [[True, False]]  # a point on the border is not inside


def test_candidates_topk_and_soft_targets():
    # gt covers the 2 x 2 top-left points 0, 1, 4, 5; point 0 predicts it exactly.
    gt = _gt([[0, 0, 16, 16]], [2])
    pred = _boxes_around(POINTS, 16.0)
    pred[0] = torch.tensor([0.0, 0, 16, 16])
    scores = torch.full((16, 3), 0.1)
    scores[:, 1] = 0.5  # class 2
    a = TaskAlignedAssigner(topk=3, alpha=0.5, beta=6.0, min_size=0)(POINTS, scores, pred, gt)
    iou = box_iou(gt.boxes, pred)[0]
    # The 4 candidates; point 0 (IoU 1) is best, the other three tie: top-3 takes two of them.
    pos = a.positive.nonzero().squeeze(1).tolist()
    assert len(pos) == 3 and 0 in pos and set(pos) <= {0, 1, 4, 5}
    assert (a.matches[a.positive] == 0).all() and (a.matches[~a.positive] == BACKGROUND).all()
    assert (a.labels[a.positive] == 2).all() and (a.labels[~a.positive] == 0).all()
    assert torch.equal(a.boxes[pos[1]], gt.boxes[0]) and (a.boxes[~a.positive] == 0).all()
    # Soft targets: t * max IoU / max t, with t = s^0.5 IoU^6 and the same s everywhere.
    assert a.scores[0] == pytest.approx(1.0, abs=1e-6)
    for p in pos[1:]:
        assert a.scores[p] == pytest.approx(float(iou[p]) ** 6, rel=1e-4)
    assert (a.scores[~a.positive] == 0).all()


def test_scores_count_in_the_alignment():
    # Same boxes everywhere: the points with the higher class score win the top-k.
    gt = _gt([[0, 0, 16, 16]], [1])
    pred = gt.boxes.expand(16, 4).clone()
    scores = torch.full((16, 1), 0.2)
    scores[5] = 0.9
    a = TaskAlignedAssigner(topk=1, min_size=0)(POINTS, scores, pred, gt)
    assert a.positive.nonzero().squeeze(1).tolist() == [5]
    assert a.scores[5] == pytest.approx(1.0, abs=1e-6)  # best aligned: asked for the max IoU


def test_small_boxes_are_enlarged_for_candidates_only():
    # A 4 x 4 box between grid points contains no centre.
    gt = _gt([[6, 6, 10, 10]], [1])
    pred = _boxes_around(POINTS, 6.0)
    scores = torch.full((16, 1), 0.5)
    assert not TaskAlignedAssigner(min_size=0)(POINTS, scores, pred, gt).positive.any()
    a = TaskAlignedAssigner(min_size=16)(POINTS, scores, pred, gt)
    assert a.positive.nonzero().squeeze(1).tolist() == [0, 1, 4, 5]
    assert torch.equal(a.boxes[0], gt.boxes[0])  # the target box is the real, small one


def test_one_ground_truth_per_point_by_highest_iou():
    # Two overlapping gts both contain point 5 (12, 12); its prediction overlaps gt 1 more.
    gt = _gt([[0, 0, 16, 16], [8, 8, 24, 24]], [1, 1])
    pred = _boxes_around(POINTS, 16.0)
    pred[5] = torch.tensor([9.0, 9, 24, 24])
    scores = torch.full((16, 1), 0.5)
    a = TaskAlignedAssigner(topk=10, min_size=0)(POINTS, scores, pred, gt)
    assert a.matches[5] == 1
    assert a.matches[0] == 0 and a.matches[10] == 1  # (4, 4) in gt 0 only, (20, 20) in gt 1 only
    assert (a.scores <= 1).all() and (a.scores >= 0).all()


def test_crowds_create_no_positives_and_ignore_their_inside():
    pred = _boxes_around(POINTS, 16.0)
    scores = torch.full((16, 1), 0.5)
    assigner = TaskAlignedAssigner(min_size=0)
    only_crowd = assigner(POINTS, scores, pred, _gt([[0, 0, 16, 16]], [1], [True]))
    assert not only_crowd.positive.any() and only_crowd.scores.sum() == 0
    assert only_crowd.ignore.nonzero().squeeze(1).tolist() == [0, 1, 4, 5]
    # A real object inside a crowd keeps its positives; matches index the full target list.
    gt = _gt([[0, 0, 32, 32], [0, 0, 16, 16]], [1, 1], [True, False])
    a = assigner(POINTS, scores, pred, gt)
    assert set(a.matches[a.positive].tolist()) == {1}
    assert a.positive.nonzero().squeeze(1).tolist() == [0, 1, 4, 5]
    assert (a.matches[~a.positive] == IGNORE).all()  # every other point lies in the crowd


def test_no_ground_truth_is_all_background():
    a = TaskAlignedAssigner()(POINTS, torch.rand(16, 2), _boxes_around(POINTS, 8), _gt([], []))
    assert (a.matches == BACKGROUND).all() and (a.labels == 0).all() and (a.scores == 0).all()


def test_batch_stacks_and_checks():
    pred = _boxes_around(POINTS, 16.0).expand(2, 16, 4)
    scores = torch.full((2, 16, 2), 0.5)
    targets = [_gt([[0, 0, 16, 16]], [2]), _gt([], [])]
    a = TaskAlignedAssigner(min_size=0).batch(POINTS, scores, pred, targets)
    assert a.matches.shape == (2, 16) and a.boxes.shape == (2, 16, 4)
    assert a.positive[0].any() and not a.positive[1].any()
    with pytest.raises(ValueError, match="labels"):
        TaskAlignedAssigner()(POINTS, scores[0], pred[0], _gt([[0, 0, 16, 16]], [3]))
    with pytest.raises(ValueError, match="targets"):
        TaskAlignedAssigner().batch(POINTS, scores, pred, targets[:1])
