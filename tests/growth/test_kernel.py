"""widen_kernel zero-pads kernels and grows padding: same output."""

import copy

import pytest
import torch
from torch import nn

from regionlab.growth import GrowthError, verify, widen_kernel

EXACT = 1e-10


@pytest.mark.parametrize(
    "conv",
    [
        nn.Conv2d(3, 4, 3, padding=1),
        nn.Conv2d(3, 4, 3, stride=2, padding=2, dilation=2, padding_mode="reflect"),
        nn.Conv2d(4, 4, 3, padding="same", groups=2, bias=False),
        nn.Conv2d(3, 4, (1, 3), padding="valid"),
    ],
    ids=["plain", "strided-dilated-reflect", "same-grouped", "valid-rect"],
)
def test_widen_kernel_3_to_5(conv):
    net = nn.Sequential(conv, nn.ReLU()).double()
    before = copy.deepcopy(net)
    rec = widen_kernel(net, "0", 5)
    assert net[0].weight.shape[-2:] == (5, 5) and rec.new_kernel == (5, 5)
    x = torch.randn(2, conv.in_channels, 9, 9)
    assert verify(before, net, x)["max_abs"] <= EXACT


def test_widen_kernel_refuses_odd_growth_and_transposed():
    with pytest.raises(GrowthError, match="even"):
        widen_kernel(nn.Sequential(nn.Conv2d(3, 4, 3)), "0", 4)
    with pytest.raises(GrowthError, match=r"'0' \(ConvTranspose2d\)"):
        widen_kernel(nn.Sequential(nn.ConvTranspose2d(3, 4, 3)), "0", 5)
