"""deepen inserts identity / zero-residual layers that keep the function exactly (float64)."""

import copy

import pytest
import torch
from torch import nn

from regionlab.growth import GrowthError, Residual, deepen, verify

EXACT = 1e-10


def relu_conv_net() -> nn.Sequential:
    block = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU())
    return nn.Sequential(block, nn.Conv2d(6, 2, 1)).double()


def tanh_mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).double()


def test_identity_after_relu_block(warm):
    net = warm(relu_conv_net(), 4, 3, 6, 6)
    before = copy.deepcopy(net)
    rec = deepen(net, "0")  # a Sequential: the new conv-BN-ReLU is appended to it
    assert rec.inserted == "0.3" and isinstance(net[0][3][1], nn.BatchNorm2d)
    assert verify(before, net, torch.randn(2, 3, 6, 6))["max_abs"] <= EXACT


def test_identity_after_conv_moves_behind_its_relu(warm):
    net = warm(relu_conv_net(), 4, 3, 6, 6)
    before = copy.deepcopy(net)
    rec = deepen(net, "0.0", norm=False, kernel_size=1)
    assert rec.inserted == "0.2.1" and isinstance(net[0][2][0], nn.ReLU)
    assert verify(before, net, torch.randn(2, 3, 6, 6))["max_abs"] <= EXACT


def test_identity_on_linear_relu():
    net = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3)).double()
    before = copy.deepcopy(net)
    deepen(net, "1")
    assert verify(before, net, torch.randn(4, 5))["max_abs"] <= EXACT


def test_residual_on_tanh_net():
    net = tanh_mlp()
    before = copy.deepcopy(net)
    rec = deepen(net, "1", kind="residual")
    assert isinstance(rec.module, Residual) and isinstance(rec.module.body[1], nn.Tanh)
    assert verify(before, net, torch.randn(4, 5))["max_abs"] <= EXACT


def test_residual_conv_with_gelu(warm):
    net = warm(relu_conv_net(), 4, 3, 6, 6)
    before = copy.deepcopy(net)
    deepen(net, "0", kind="residual", activation=nn.GELU)
    assert verify(before, net, torch.randn(2, 3, 6, 6))["max_abs"] <= EXACT


def test_identity_on_tanh_is_refused():
    with pytest.raises(GrowthError, match=r"Tanh is not idempotent.*kind='residual'"):
        deepen(tanh_mlp(), "1")
    with pytest.raises(GrowthError, match="Tanh is not idempotent"):
        deepen(tanh_mlp(), "0")  # the Linear is followed by Tanh


def test_identity_needs_an_activation_before():
    with pytest.raises(GrowthError, match=r"'2' \(Linear\).*kind='residual'"):
        deepen(tanh_mlp(), "2")
    relu6 = nn.Sequential(nn.Linear(5, 8), nn.ReLU6())
    with pytest.raises(GrowthError, match="has not passed"):
        deepen(relu6, "1", activation=nn.ReLU())  # ReLU6 output above 6 would change
    deepen(relu6, "1")  # the same ReLU6 is fine
