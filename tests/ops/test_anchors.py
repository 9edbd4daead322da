"""Grid centres and anchor generation, checked against coordinates computed by hand."""

import math

import pytest
import torch
from torchvision.ops import box_area, box_convert

from regionlab.ops.anchors import AnchorGenerator, grid_centres


def test_grid_centres_row_major():
    c = grid_centres((2, 3), 8)
    expected = torch.tensor(
        [[4.0, 4.0], [12.0, 4.0], [20.0, 4.0], [4.0, 12.0], [12.0, 12.0], [20.0, 12.0]]
    )
    assert c.dtype == torch.float32
    assert torch.equal(c, expected)
    assert grid_centres((0, 5), 8).shape == (0, 2)


def test_anchors_2x2_stride_8_by_hand():
    gen = AnchorGenerator(sizes=((16,),), aspect_ratios=((0.5, 1.0, 2.0),), strides=(8,))
    (anchors,) = gen([(2, 2)])
    # ratio = h / w with area 16^2: w = 16 / sqrt(r), h = 16 * sqrt(r).
    #   r = 0.5: w = 16 sqrt(2) (half 8 sqrt(2)), h = 8 sqrt(2) (half 4 sqrt(2))
    #   r = 1:   16 x 16 (half 8)
    #   r = 2:   w = 8 sqrt(2), h = 16 sqrt(2)
    a, b = 8 * math.sqrt(2), 4 * math.sqrt(2)
    cell = [[-a, -b, a, b], [-8, -8, 8, 8], [-b, -a, b, a]]
    centres = [(4, 4), (12, 4), (4, 12), (12, 12)]  # (x, y), row-major
    expected = torch.tensor(
        [
            [cx + dx1, cy + dy1, cx + dx2, cy + dy2]
            for cx, cy in centres
            for dx1, dy1, dx2, dy2 in cell
        ],
        dtype=torch.float64,
    )
    assert anchors.shape == (12, 4) and anchors.dtype == torch.float32
    torch.testing.assert_close(anchors, expected.float(), rtol=0, atol=0)
    # Spot-check two rows written out in full.
    torch.testing.assert_close(anchors[0], torch.tensor([4 - a, 4 - b, 4 + a, 4 + b]).float())
    torch.testing.assert_close(anchors[10], torch.tensor([4.0, 4.0, 20.0, 20.0]))


def test_anchor_areas_ratios_and_centres():
    sizes, ratios = (16, 32, 48), (0.5, 1.0, 2.0, 3.0)
    gen = AnchorGenerator(sizes=(sizes,), aspect_ratios=(ratios,), strides=(16,))
    anchors = gen.level_anchors(0, (3, 5), dtype=torch.float64)
    a = len(sizes) * len(ratios)
    assert anchors.shape == (3 * 5 * a, 4)
    # Sizes outer, ratios inner, per cell.
    want_area = torch.tensor([s * s for s in sizes for _ in ratios], dtype=torch.float64)
    want_ratio = torch.tensor([r for _ in sizes for r in ratios], dtype=torch.float64)
    per_cell = anchors.reshape(15, a, 4)
    torch.testing.assert_close(box_area(anchors).reshape(15, a), want_area.expand(15, a))
    cxcywh = box_convert(per_cell, "xyxy", "cxcywh")
    torch.testing.assert_close(cxcywh[..., 3] / cxcywh[..., 2], want_ratio.expand(15, a))
    centres = grid_centres((3, 5), 16, dtype=torch.float64)
    torch.testing.assert_close(cxcywh[..., :2], centres[:, None, :].expand(15, a, 2))


def test_counts_per_level():
    gen = AnchorGenerator(
        sizes=((32,), (64, 96), (128,)),
        aspect_ratios=((0.5, 1.0, 2.0), (1.0,), (0.5, 1.0, 2.0)),
        strides=(4, 8, 16),
    )
    assert gen.num_levels == 3
    assert gen.num_anchors_per_location() == [3, 2, 3]
    levels = gen([(8, 10), (4, 5), (2, 3)])
    assert [t.shape for t in levels] == [(8 * 10 * 3, 4), (4 * 5 * 2, 4), (2 * 3 * 3, 4)]
    # Each level is centred on its own stride's grid.
    first = box_convert(levels[2][:3], "xyxy", "cxcywh")[:, :2]
    torch.testing.assert_close(first, torch.tensor([[8.0, 8.0]] * 3))


def test_dtype_device_and_empty_map():
    gen = AnchorGenerator(sizes=((16,),), aspect_ratios=((1.0,),), strides=(8,))
    assert gen.level_anchors(0, (0, 4)).shape == (0, 4)
    f64 = gen.level_anchors(0, (2, 2), device="cpu", dtype=torch.float64)
    assert f64.dtype == torch.float64
    torch.testing.assert_close(f64.float(), gen.level_anchors(0, (2, 2)), rtol=0, atol=0)


def test_bad_configurations():
    with pytest.raises(ValueError, match="one entry per level"):
        AnchorGenerator(sizes=((16,), (32,)), aspect_ratios=((1.0,),), strides=(8, 16))
    with pytest.raises(ValueError, match="level 0"):
        AnchorGenerator(sizes=((16,),), aspect_ratios=((0.0,),), strides=(8,))
    with pytest.raises(ValueError, match="level 0"):
        AnchorGenerator(sizes=((),), aspect_ratios=((1.0,),), strides=(8,))
    gen = AnchorGenerator(sizes=((16,),), aspect_ratios=((1.0,),), strides=(8,))
    with pytest.raises(ValueError, match="feature sizes"):
        gen([(2, 2), (1, 1)])
