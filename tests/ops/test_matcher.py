"""IoU matcher and crowd handling on IoU matrices and boxes made by hand."""

import pytest
import torch
from torchvision.ops import box_iou

from regionlab.ops.matcher import BACKGROUND, IGNORE, Matcher, ignore_crowd_overlap

BG, IG = BACKGROUND, IGNORE


def m(*values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.int64)


def test_constants():
    assert (BACKGROUND, IGNORE) == (-1, -2)


def test_thresholds_at_the_boundaries():
    # One ground truth; IoU exactly at fg (foreground), just below fg (ignore), exactly at bg
    # (ignore: "< bg" is background), just below bg (background). Values exact in float32.
    iou = torch.tensor([[0.75, 0.7499, 0.25, 0.2499, 0.0, 1.0]])
    out = Matcher(0.75, 0.25)(iou)
    assert out.dtype == torch.int64
    assert torch.equal(out, m(0, IG, IG, BG, BG, 0))


def test_no_ignore_band_when_thresholds_equal():
    iou = torch.tensor([[0.5, 0.4999, 0.0]])
    assert torch.equal(Matcher(0.5, 0.5)(iou), m(0, BG, BG))


def test_best_ground_truth_wins_and_ties_go_to_lowest_index():
    iou = torch.tensor(
        [
            [0.6, 0.9, 0.8],
            [0.8, 0.6, 0.8],
        ]
    )
    assert torch.equal(Matcher(0.5, 0.5)(iou), m(1, 0, 0))


def test_low_quality_matches_include_ties():
    # Ground truth 0 peaks at 0.4 on predictions 0 and 2 (a tie): both become foreground.
    # Ground truth 1 peaks at 0.6 on prediction 3, which is already a foreground match.
    # Prediction 1 (0.35) and 4 (0.1) stay as the thresholds say.
    iou = torch.tensor(
        [
            [0.4, 0.35, 0.4, 0.0, 0.1],
            [0.0, 0.0, 0.1, 0.6, 0.0],
        ]
    )
    assert torch.equal(Matcher(0.5, 0.3)(iou), m(IG, IG, IG, 1, BG))
    assert torch.equal(Matcher(0.5, 0.3, allow_low_quality=True)(iou), m(0, IG, 0, 1, BG))


def test_low_quality_match_uses_the_predictions_own_best_ground_truth():
    # Prediction 1 is ground truth 0's best (0.3), but ground truth 1 overlaps it more (0.4);
    # as in Faster R-CNN it becomes foreground for ground truth 1. Ground truth 1's own best is
    # prediction 0 (0.45).
    iou = torch.tensor(
        [
            [0.0, 0.3],
            [0.45, 0.4],
        ]
    )
    assert torch.equal(Matcher(0.7, 0.3, allow_low_quality=True)(iou), m(1, 1))


def test_low_quality_needs_positive_iou():
    # Ground truth 1 touches nothing: its "highest IoU" 0 must not turn every
    # zero-overlap prediction into foreground.
    iou = torch.tensor(
        [
            [0.2, 0.0, 0.0],
            [0.0, 0.0, 0.0],
        ]
    )
    assert torch.equal(Matcher(0.7, 0.3, allow_low_quality=True)(iou), m(0, BG, BG))


def test_empty_ground_truth_is_all_background():
    for allow in (False, True):
        out = Matcher(0.7, 0.3, allow_low_quality=allow)(torch.zeros((0, 4)))
        assert torch.equal(out, m(BG, BG, BG, BG))
        crowd = torch.zeros(0, dtype=torch.bool)
        assert torch.equal(Matcher(0.7, 0.3)(torch.zeros((0, 3)), crowd), m(BG, BG, BG))


def test_no_predictions():
    out = Matcher(0.7, 0.3, allow_low_quality=True)(torch.zeros((2, 0)))
    assert out.shape == (0,) and out.dtype == torch.int64


def test_with_box_iou():
    gt = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    preds = torch.tensor(
        [
            [0.0, 0.0, 10.0, 10.0],  # IoU 1
            [0.0, 0.0, 10.0, 5.0],  # IoU 0.5
            [20.0, 20.0, 30.0, 30.0],  # IoU 0
        ]
    )
    assert torch.equal(Matcher(0.5, 0.3)(box_iou(gt, preds)), m(0, 0, BG))


@pytest.mark.parametrize("allow_low_quality", [False, True])
def test_agrees_with_torchvision_matcher(allow_low_quality):
    # torchvision's (private) Faster R-CNN matcher, on random IoU with no zero rows or ties.
    from torchvision.models.detection._utils import Matcher as TVMatcher

    g = torch.Generator().manual_seed(0)
    ours = Matcher(0.7, 0.3, allow_low_quality)
    theirs = TVMatcher(0.7, 0.3, allow_low_quality_matches=allow_low_quality)
    for g_count, p_count in [(1, 50), (4, 200), (10, 30)]:
        iou = 0.9 * torch.rand((g_count, p_count), generator=g) ** 4 + 1e-3
        assert torch.equal(ours(iou), theirs(iou))


def test_crowd_is_never_matched_and_overlap_with_it_is_ignored():
    # Rows: ground truth 0 is a crowd, 1 is a real object.
    iou = torch.tensor(
        [
            [0.9, 0.9, 0.4, 0.2, 0.0, 0.3],
            [0.0, 0.8, 0.0, 0.0, 0.1, 0.1],
        ]
    )
    crowd = torch.tensor([True, False])
    # Without crowd handling the crowd would be a foreground match.
    assert torch.equal(Matcher(0.5, 0.3)(iou), m(0, 0, IG, BG, BG, IG))
    # With it: 0 would have matched the crowd -> ignore; 1 keeps the real object (its index in
    # the full list); 2 overlaps the crowd in the ignore band -> ignore; 3 and 4 overlap the
    # crowd below bg -> background; 5 is exactly at bg with the crowd -> ignore.
    assert torch.equal(Matcher(0.5, 0.3)(iou, crowd), m(IG, 1, IG, BG, BG, IG))


def test_crowd_gets_no_low_quality_match():
    iou = torch.tensor(
        [
            [0.2, 0.0, 0.0],  # crowd: its best (prediction 0) must not become foreground
            [0.0, 0.4, 0.0],
        ]
    )
    crowd = torch.tensor([True, False])
    out = Matcher(0.7, 0.3, allow_low_quality=True)(iou, crowd)
    assert torch.equal(out, m(BG, 1, BG))


def test_only_crowds():
    iou = torch.tensor([[0.6, 0.1]])
    out = Matcher(0.5, 0.3, allow_low_quality=True)(iou, torch.tensor([True]))
    assert torch.equal(out, m(IG, BG))


def test_crowd_mask_must_match():
    with pytest.raises(ValueError, match="crowd"):
        Matcher(0.5, 0.3)(torch.zeros((2, 3)), torch.tensor([True]))
    with pytest.raises(ValueError, match="crowd"):
        Matcher(0.5, 0.3)(torch.zeros((2, 3)), torch.tensor([1, 0]))


def test_bad_thresholds_and_shapes():
    with pytest.raises(ValueError, match="bg_iou"):
        Matcher(0.3, 0.7)
    with pytest.raises(ValueError, match="iou"):
        Matcher(0.5, 0.3)(torch.zeros(3))


def test_ignore_crowd_overlap_by_intersection_over_prediction_area():
    crowd_boxes = torch.tensor([[0.0, 0.0, 100.0, 100.0]])
    boxes = torch.tensor(
        [
            [10.0, 10.0, 20.0, 20.0],  # fully inside: IoA 1 (IoU only 0.01)
            [90.0, 0.0, 110.0, 10.0],  # half inside: IoA 0.5
            [93.0, 0.0, 103.0, 10.0],  # IoA exactly 0.7: not above the threshold
            [92.0, 0.0, 102.0, 10.0],  # IoA 0.8
            [10.0, 10.0, 20.0, 20.0],  # inside, but foreground: kept
            [10.0, 10.0, 20.0, 20.0],  # inside, already ignored
            [50.0, 50.0, 50.0, 60.0],  # zero area: IoA 0
        ]
    )
    matches = m(BG, BG, BG, BG, 3, IG, BG)
    out = ignore_crowd_overlap(matches, boxes, crowd_boxes, threshold=0.7)
    assert torch.equal(out, m(IG, BG, BG, IG, 3, IG, BG))
    assert torch.equal(matches, m(BG, BG, BG, BG, 3, IG, BG))  # input untouched


def test_ignore_crowd_overlap_takes_the_most_covering_crowd():
    crowd_boxes = torch.tensor([[0.0, 0.0, 5.0, 10.0], [5.0, 0.0, 10.0, 10.0]])
    # Half in each crowd: IoA 0.5 with each, not summed.
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [6.0, 0.0, 10.0, 10.0]])
    out = ignore_crowd_overlap(m(BG, BG), boxes, crowd_boxes, threshold=0.6)
    assert torch.equal(out, m(BG, IG))


def test_ignore_crowd_overlap_without_crowds():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    assert torch.equal(ignore_crowd_overlap(m(BG), boxes, torch.zeros((0, 4))), m(BG))
    with pytest.raises(ValueError, match="boxes"):
        ignore_crowd_overlap(m(BG, BG), boxes, torch.zeros((0, 4)))
