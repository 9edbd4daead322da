"""Box coder, matched-pair IoU and box normalisation on examples computed by hand."""

import math

import pytest
import torch
from torchvision.ops import box_iou

from regionlab.ops.boxes import BoxCoder, denormalize_boxes, elementwise_iou, normalize_boxes

# ---------------------------------------------------------------------------- BoxCoder


def test_encode_by_hand():
    # reference: centre (5, 10), size 10 x 20.
    ref = torch.tensor([[0.0, 0.0, 10.0, 20.0], [0.0, 0.0, 10.0, 20.0]])
    # target 0: same size, centre (10, 20); target 1: centre (10, 5), size 20 x 10.
    tgt = torch.tensor([[5.0, 10.0, 15.0, 30.0], [0.0, 0.0, 20.0, 10.0]])
    unit = BoxCoder(weights=(1.0, 1.0, 1.0, 1.0)).encode(ref, tgt)
    ln2 = math.log(2.0)
    expected = torch.tensor([[0.5, 0.5, 0.0, 0.0], [0.5, -0.25, ln2, -ln2]])
    torch.testing.assert_close(unit, expected)
    # The default weights (10, 10, 5, 5) scale each column.
    weighted = BoxCoder().encode(ref, tgt)
    torch.testing.assert_close(weighted, expected * torch.tensor([10.0, 10.0, 5.0, 5.0]))


def test_decode_by_hand():
    ref = torch.tensor([[0.0, 0.0, 10.0, 20.0]])
    deltas = torch.tensor([[0.5, -0.25, math.log(2.0), -math.log(2.0)]])
    out = BoxCoder(weights=(1.0, 1.0, 1.0, 1.0)).decode(deltas, ref)
    torch.testing.assert_close(out, torch.tensor([[0.0, 0.0, 20.0, 10.0]]))


def test_zero_deltas_decode_to_the_reference():
    ref = torch.tensor([[3.0, 4.0, 9.0, 7.0], [0.0, 0.0, 1.0, 1.0]])
    torch.testing.assert_close(BoxCoder().decode(torch.zeros(2, 4), ref), ref)


def test_decode_class_specific_columns():
    ref = torch.tensor([[0.0, 0.0, 10.0, 20.0]])
    coder = BoxCoder(weights=(1.0, 1.0, 1.0, 1.0))
    # class 0: no change; class 1: shift right by half a width (5 px).
    deltas = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0]])
    out = coder.decode(deltas, ref)
    assert out.shape == (1, 8)
    torch.testing.assert_close(out, torch.tensor([[0.0, 0.0, 10.0, 20.0, 5.0, 0.0, 15.0, 20.0]]))


def test_decode_clamps_size_deltas():
    # dw = dh = 100 would overflow exp; clamped at log(1000/16) a 16-px box grows to 1000 px.
    ref = torch.tensor([[0.0, 0.0, 16.0, 16.0]])
    out = BoxCoder(weights=(1.0, 1.0, 1.0, 1.0)).decode(
        torch.tensor([[0.0, 0.0, 100.0, 100.0]]), ref
    )
    torch.testing.assert_close(out, torch.tensor([[-492.0, -492.0, 508.0, 508.0]]))
    assert torch.isfinite(out).all()
    # Shrinking is not clamped (exp of a very negative number is just ~0).
    tiny = BoxCoder(weights=(1.0, 1.0, 1.0, 1.0)).decode(
        torch.tensor([[0.0, 0.0, -100.0, -100.0]]), ref
    )
    torch.testing.assert_close(tiny, torch.tensor([[8.0, 8.0, 8.0, 8.0]]))


def test_custom_clip():
    ref = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    out = BoxCoder(weights=(1.0, 1.0, 1.0, 1.0), clip=math.log(3.0)).decode(
        torch.tensor([[0.0, 0.0, 10.0, 0.0]]), ref
    )
    torch.testing.assert_close(out, torch.tensor([[-2.0, 0.0, 4.0, 2.0]]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_coder_keeps_the_input_dtype(dtype):
    ref = torch.tensor([[0.0, 0.0, 4.0, 4.0]], dtype=dtype)
    tgt = torch.tensor([[1.0, 1.0, 5.0, 6.0]], dtype=dtype)
    coder = BoxCoder()
    d = coder.encode(ref, tgt)
    assert d.dtype == dtype
    assert coder.decode(d, ref).dtype == dtype


def test_empty_inputs():
    coder = BoxCoder()
    assert coder.encode(torch.zeros(0, 4), torch.zeros(0, 4)).shape == (0, 4)
    assert coder.decode(torch.zeros(0, 12), torch.zeros(0, 4)).shape == (0, 12)


def test_zero_size_target_gives_infinite_size_delta():
    # Documented: encode needs positive-size targets; a degenerate one is not silently hidden.
    d = BoxCoder().encode(
        torch.tensor([[0.0, 0.0, 4.0, 4.0]]), torch.tensor([[1.0, 1.0, 1.0, 3.0]])
    )
    assert d[0, 2] == float("-inf")
    assert torch.isfinite(d[0, [0, 1, 3]]).all()


def test_shape_errors_are_clear():
    coder = BoxCoder()
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        coder.encode(torch.zeros(2, 4), torch.zeros(3, 4))
    with pytest.raises(ValueError, match=r"4 \* C"):
        coder.decode(torch.zeros(2, 6), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="reference"):
        coder.decode(torch.zeros(2, 8), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="weights"):
        BoxCoder(weights=(1.0, 1.0))


# ---------------------------------------------------------------------------- elementwise_iou


def test_elementwise_iou_by_hand():
    a = torch.tensor(
        [
            [0.0, 0.0, 2.0, 2.0],  # overlaps b by a 1x1 square: 1 / (4 + 4 - 1)
            [0.0, 0.0, 2.0, 2.0],  # identical
            [0.0, 0.0, 1.0, 1.0],  # disjoint
            [0.0, 0.0, 1.0, 1.0],  # touching along an edge: no area in common
            [0.0, 0.0, 4.0, 4.0],  # b inside a: 4 / 16
        ]
    )
    b = torch.tensor(
        [
            [1.0, 1.0, 3.0, 3.0],
            [0.0, 0.0, 2.0, 2.0],
            [5.0, 5.0, 6.0, 6.0],
            [1.0, 0.0, 2.0, 1.0],
            [1.0, 1.0, 3.0, 3.0],
        ]
    )
    torch.testing.assert_close(elementwise_iou(a, b), torch.tensor([1 / 7, 1.0, 0.0, 0.0, 0.25]))


def test_elementwise_iou_zero_area_pairs_are_zero_not_nan():
    a = torch.tensor(
        [
            [1.0, 1.0, 1.0, 1.0],  # point vs the same point: union 0
            [0.0, 0.0, 2.0, 0.0],  # line vs the same line: union 0
            [1.0, 1.0, 1.0, 1.0],  # point inside a box: intersection 0, union 4
        ]
    )
    b = torch.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 2.0, 0.0], [0.0, 0.0, 2.0, 2.0]])
    out = elementwise_iou(a, b)
    assert out.tolist() == [0.0, 0.0, 0.0]
    # torchvision's pairwise box_iou divides 0 by 0 there.
    assert torch.isnan(box_iou(a, b).diagonal()[:2]).all()


def test_elementwise_iou_empty_and_shape_error():
    assert elementwise_iou(torch.zeros(0, 4), torch.zeros(0, 4)).shape == (0,)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        elementwise_iou(torch.zeros(2, 4), torch.zeros(3, 4))


def test_elementwise_iou_keeps_float_dtype():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]], dtype=torch.float64)
    assert elementwise_iou(a, a).dtype == torch.float64


# ---------------------------------------------------------------------------- normalisation


def test_normalize_by_hand_and_back():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 20.0], [10.0, 20.0, 20.0, 40.0]])
    size = (40, 20)  # (H, W)
    norm = normalize_boxes(boxes, size)
    torch.testing.assert_close(norm, torch.tensor([[0.25, 0.25, 0.5, 0.5], [0.75, 0.75, 0.5, 0.5]]))
    assert ((norm >= 0) & (norm <= 1)).all()
    torch.testing.assert_close(denormalize_boxes(norm, size), boxes)


def test_normalize_whole_image_is_centre_and_unit_size():
    norm = normalize_boxes(torch.tensor([[0.0, 0.0, 640.0, 480.0]]), (480, 640))
    torch.testing.assert_close(norm, torch.tensor([[0.5, 0.5, 1.0, 1.0]]))
