import math

import pytest
import torch

from regionlab.eval.keypoints import (
    LSP_PCP_STICKS,
    Stick,
    box_size,
    pck,
    pcp,
    torso_diameter,
)


def test_pck_hand_computed():
    # alpha * ref: instance 0 -> 0.25 * 8 = 2 px, instance 3 -> 0.25 * 20 = 5 px.
    gt = torch.zeros((4, 3, 2))
    pred = gt.clone()
    pred[0, 0] = torch.tensor([2.0, 0.0])  # exactly at the threshold: correct
    pred[0, 1] = torch.tensor([0.0, 3.0])  # 3 > 2: wrong
    pred[0, 2] = torch.tensor([99.0, 99.0])  # unlabelled: ignored
    pred[1] = 50.0  # ref 0: instance excluded
    pred[2] = 50.0  # ref < 0: instance excluded
    pred[3, 0] = torch.tensor([3.0, 4.0])  # distance 5 = threshold: correct
    pred[3, 1] = torch.tensor([0.0, 5.5])  # wrong
    labelled = torch.tensor([[1, 1, 0], [1, 1, 1], [1, 1, 1], [1, 1, 1]], dtype=torch.bool)
    ref = torch.tensor([8.0, 0.0, -1.0, 20.0])
    m = pck(pred, gt, labelled, ref, alpha=0.25)
    assert m["pck"] == pytest.approx(3 / 5)
    assert m["per_joint"][:2] == [1.0, 0.0] and m["per_joint"][2] == 1.0
    assert m["joints"] == 5 and m["excluded"] == 2


def test_pck_joint_never_labelled_is_nan_and_nothing_counted_is_nan():
    gt = torch.zeros((1, 2, 2))
    m = pck(gt, gt, torch.tensor([[True, False]]), torch.tensor([1.0]))
    assert m["per_joint"][0] == 1.0 and math.isnan(m["per_joint"][1]) and m["pck"] == 1.0
    m = pck(gt, gt, torch.tensor([[True, True]]), torch.tensor([float("nan")]))
    assert math.isnan(m["pck"]) and m["excluded"] == 1 and m["joints"] == 0


def test_pck_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\(N, K, 2\)"):
        pck(torch.zeros((1, 3, 2)), torch.zeros((1, 4, 2)), torch.ones((1, 4)), torch.ones(1))
    with pytest.raises(ValueError, match="labelled"):
        pck(torch.zeros((1, 3, 2)), torch.zeros((1, 3, 2)), torch.ones((1, 4)), torch.ones(1))


def test_torso_diameter_falls_back_to_the_other_diagonal_and_box_size():
    gt = torch.zeros((2, 14, 2))
    gt[:, 9] = torch.tensor([3.0, 0.0])  # left shoulder
    gt[:, 2] = torch.tensor([0.0, 4.0])  # right hip
    gt[:, 8] = torch.tensor([0.0, 0.0])  # right shoulder
    gt[:, 3] = torch.tensor([6.0, 8.0])  # left hip
    labelled = torch.ones((3, 14), dtype=torch.bool)
    gt = torch.cat([gt, gt[:1]])
    labelled[1, 9] = False  # left shoulder missing: the other diagonal (10)
    labelled[2, [9, 3]] = False  # both diagonals missing: no reference
    assert torso_diameter(gt, labelled).tolist() == [5.0, 10.0, 0.0]
    boxes = torch.tensor([[0.0, 0.0, 4.0, 10.0], [1.0, 1.0, 7.0, 3.0]])
    assert box_size(boxes).tolist() == [10.0, 6.0]


def test_pcp_one_stick_right_one_wrong():
    sticks = (Stick("a", "arm", 0, 1), Stick("b", "arm", 1, 2), Stick("c", "leg", 2, 3))
    gt = torch.tensor([[[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]]])
    pred = gt.clone()
    pred[0, 0] = torch.tensor([3.0, 4.0])  # 5 = half of stick a's length 10: still correct
    pred[0, 2] = torch.tensor([10.0, 16.0])  # 6 > 5: stick b wrong
    labelled = torch.tensor([[True, True, True, False]])  # stick c skipped
    m = pcp(pred, gt, labelled, sticks)
    assert m["sticks"]["a"] == 1.0 and m["sticks"]["b"] == 0.0 and math.isnan(m["sticks"]["c"])
    assert m["parts"]["arm"] == 0.5 and math.isnan(m["parts"]["leg"])
    assert m["mean"] == 0.5 and m["counted"] == 2


def _figure() -> torch.Tensor:
    """An upright LSP-14 person (x right, y down)."""
    xy = [(6, 60), (6, 45), (6, 30), (14, 30), (14, 45), (14, 60),  # legs
          (0, 25), (2, 18), (4, 10), (16, 10), (18, 18), (20, 25),  # arms
          (10, 8), (10, 0)]  # fmt: skip
    return torch.tensor([xy], dtype=torch.float32)


def test_pcp_torso_uses_the_hip_midpoint():
    gt = _figure()  # neck (10, 8), hips (6, 30) and (14, 30): torso length 22, half 11
    labelled = torch.ones((1, 14), dtype=torch.bool)
    pred = gt.clone()
    pred[0, 2, 0] -= 12  # both hips 12 px off, but their midpoint is unchanged
    pred[0, 3, 0] += 12
    m = pcp(pred, gt, labelled)
    assert m["sticks"]["torso"] == 1.0 and m["parts"]["torso"] == 1.0
    assert m["parts"]["upper leg"] == 0.0  # the hip ends of the upper legs are off by 12 > 7.5
    pred = gt.clone()
    pred[0, [2, 3], 1] += 11.5  # midpoint 11.5 px off: torso wrong
    assert pcp(pred, gt, labelled)["sticks"]["torso"] == 0.0
    labelled[0, 3] = False  # left hip unlabelled: torso skipped, not wrong
    m = pcp(pred, gt, labelled)
    assert math.isnan(m["sticks"]["torso"]) and math.isnan(m["sticks"]["left upper leg"])


def test_pcp_perfect_prediction_on_lsp_sticks():
    gt = _figure().repeat(3, 1, 1)
    m = pcp(gt.clone(), gt, torch.ones((3, 14), dtype=torch.bool))
    assert len(LSP_PCP_STICKS) == 10 and m["counted"] == 30 and m["mean"] == 1.0
    assert set(m["parts"]) == {"head", "torso", "upper arm", "lower arm", "upper leg", "lower leg"}
    assert all(v == 1.0 for v in m["parts"].values())
