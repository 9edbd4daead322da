"""Each upsampler on the lecture's 2x2 -> 4x4 examples, computed by hand."""

import pytest
import torch
import torch.nn.functional as F

from regionlab.ops.upsample import (
    UPSAMPLERS,
    BedOfNails,
    BilinearConv,
    MaxUnpool,
    NearestUnpool,
    TransposedConv,
    make_upsampler,
)

X = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)


def test_nearest_copies_each_value_into_its_block():
    assert NearestUnpool()(X)[0, 0].tolist() == [
        [1, 1, 2, 2],
        [1, 1, 2, 2],
        [3, 3, 4, 4],
        [3, 3, 4, 4],
    ]


def test_bed_of_nails_puts_values_in_the_top_left_corner():
    assert BedOfNails()(X)[0, 0].tolist() == [
        [1, 0, 2, 0],
        [0, 0, 0, 0],
        [3, 0, 4, 0],
        [0, 0, 0, 0],
    ]


def test_max_unpool_returns_values_to_the_remembered_positions():
    a = torch.tensor(
        [[1.0, 6.0, 3.0, 2.0], [5.0, 2.0, 1.0, 8.0], [0.0, 1.0, 4.0, 0.0], [7.0, 2.0, 0.0, 3.0]]
    ).view(1, 1, 4, 4)
    pooled, idx = F.max_pool2d(a, 2, 2, return_indices=True)
    assert pooled[0, 0].tolist() == [[6, 8], [7, 4]]
    out = MaxUnpool()(pooled, idx, output_size=a.shape[-2:])
    assert out[0, 0].tolist() == [
        [0, 6, 0, 0],
        [0, 0, 0, 8],
        [0, 0, 4, 0],
        [7, 0, 0, 0],
    ]


def test_max_unpool_without_indices_is_a_clear_error():
    with pytest.raises(ValueError, match="indices"):
        MaxUnpool()(X)


def test_transposed_conv_sums_overlaps():
    # Kernel of ones, 3x3 stride 2: each input pixel scatters into a 3x3 window; windows of
    # neighbours overlap on one row/column, where the values add up.
    up = TransposedConv(1, 1, kernel=3, stride=2, bias=False)
    with torch.no_grad():
        up.conv.weight.fill_(1.0)
    out = up(X)[0, 0]
    # Full (unpadded) output for 2x2 input is 5x5; padding 1 trims one row/col at the start,
    # output_padding keeps the end: rows/cols 1..4 of the full map.
    full = torch.zeros(5, 5)
    for i in range(2):
        for j in range(2):
            full[2 * i : 2 * i + 3, 2 * j : 2 * j + 3] += X[0, 0, i, j]
    assert out.shape == (4, 4)
    assert torch.equal(out, full[1:5, 1:5])
    assert out[1, 1] == 1 + 2 + 3 + 4  # the centre overlap of all four windows


@pytest.mark.parametrize("kernel", [2, 3, 4])
def test_transposed_conv_exactly_doubles(kernel):
    up = TransposedConv(3, 5, kernel=kernel, stride=2)
    assert up(torch.randn(2, 3, 5, 7)).shape == (2, 5, 10, 14)


def test_transposed_2x2_stride2_has_no_overlap():
    up = TransposedConv(1, 1, kernel=2, stride=2, bias=False)
    with torch.no_grad():
        up.conv.weight.copy_(torch.tensor([[[[1.0, 10.0], [100.0, 1000.0]]]]))
    out = up(X)[0, 0]
    assert out[0].tolist() == [1, 10, 2, 20]
    assert out[1].tolist() == [100, 1000, 200, 2000]


def test_bilinear_conv_shape_and_constant_input():
    up = BilinearConv(2, 3)
    with torch.no_grad():
        up.conv.weight.zero_()
        up.conv.weight[:, :, 1, 1] = 1.0  # identity-like centre tap summing channels
        up.conv.bias.zero_()
    out = up(torch.ones(1, 2, 3, 3))
    assert out.shape == (1, 3, 6, 6)
    assert torch.allclose(out[..., 1:-1, 1:-1], torch.full_like(out[..., 1:-1, 1:-1], 2.0))


@pytest.mark.parametrize("kind", UPSAMPLERS)
def test_factory_maps_channels_and_size(kind):
    up = make_upsampler(kind, 8, 4)
    x = torch.randn(2, 8, 6, 5)
    idx = None
    if kind == "max_unpool":
        _, idx = F.max_pool2d(torch.randn(2, 4, 12, 10), 2, 2, return_indices=True)
    assert up(x, idx, output_size=(12, 10)).shape == (2, 4, 12, 10)


def test_odd_output_size_is_honoured():
    assert NearestUnpool()(X, output_size=(3, 3)).shape[-2:] == (3, 3)
    assert BedOfNails()(X, output_size=(3, 4)).shape[-2:] == (3, 4)
    assert TransposedConv(1, 1, 4)(X, output_size=(3, 5)).shape[-2:] == (3, 5)


def test_unknown_upsampler_names_the_choices():
    with pytest.raises(ValueError, match="bed_of_nails"):
        make_upsampler("pixelshuffle", 2, 2)
