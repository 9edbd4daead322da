"""widen / widen_block keep the function exactly (float64) on the layouts a network can have."""

import copy

import pytest
import torch
from torch import nn
from torchvision.models.resnet import BasicBlock

from regionlab.growth import Consumer, GrowthError, make_mapping, verify, widen, widen_block

EXACT = 1e-10


def conv_net() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1, bias=False),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.Conv2d(6, 4, 3, padding=1),
    ).double()


@pytest.mark.parametrize("mode", ["net2net", "morphism"])
def test_linear_relu_linear(mode):
    net = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3)).double()
    before = copy.deepcopy(net)
    rec = widen(net, "0", 21, mode=mode)  # 8 -> 21: some units copied twice or more
    assert net[0].weight.shape == (21, 5) and net[2].weight.shape == (3, 21)
    assert net[0].out_features == 21 and net[2].in_features == 21
    assert rec.consumers[0].name == "2" and rec.mapping.counts().max() >= 2
    assert verify(before, net, torch.randn(7, 5))["max_abs"] <= EXACT


@pytest.mark.parametrize("mode", ["net2net", "morphism"])
def test_conv_bn_relu_conv_with_running_stats(mode, warm):
    net = warm(conv_net(), 4, 3, 8, 8)
    before = copy.deepcopy(net)
    rec = widen(net, "0", 11, mode=mode)
    assert rec.norms == ["1"] and net[1].num_features == 11
    assert net[1].running_var.shape == (11,) and net[3].in_channels == 11
    src = rec.mapping.source
    assert torch.equal(net[1].running_mean, before[1].running_mean[src])
    assert verify(before, net, torch.randn(2, 3, 8, 8))["max_abs"] <= EXACT


def test_noise_breaks_net2net_but_not_morphism(warm):
    net = warm(conv_net(), 4, 3, 8, 8)
    x = torch.randn(2, 3, 8, 8)
    noisy = copy.deepcopy(net)
    widen(noisy, "0", 12, noise=0.1)
    assert verify(net, noisy, x)["max_abs"] > 0
    morph = copy.deepcopy(net)
    rec = widen(morph, "0", 12, mode="morphism", noise=0.1)
    fresh = rec.mapping.fresh
    assert not torch.allclose(morph[0].weight[fresh], net[0].weight[rec.mapping.source[fresh]])
    assert (morph[3].weight[:, fresh] == 0).all()  # morphism: added units write nothing yet
    assert verify(net, morph, x)["max_abs"] <= EXACT


def test_conv_flatten_linear_inferred_and_explicit():
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 5 * 5, 3)
    ).double()
    x = torch.randn(2, 3, 5, 5)
    before = copy.deepcopy(net)
    rec = widen(net, "0", 7)
    assert rec.consumers[0].hw == 25 and net[3].in_features == 7 * 25
    assert verify(before, net, x)["max_abs"] <= EXACT
    widen(net, "0", 9, consumers=["3"], flatten_hw=(5, 5))
    assert verify(before, net, x)["max_abs"] <= EXACT


class CatNet(nn.Module):
    """``head(cat([b(x), a(x)]))``: ``a``'s channels sit at offset 5 of ``head``'s input."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 4, 1), nn.Conv2d(3, 5, 1)
        self.head = nn.Conv2d(9, 2, 3, padding=1)

    def forward(self, x):
        return self.head(torch.cat([self.b(x).relu(), self.a(x).relu()], 1))


def test_concatenation_offset():
    net = CatNet().double()
    before = copy.deepcopy(net)
    widen(net, "a", 10, consumers=["head"], consumer_offset=5)
    widen(net, "b", 6, consumers=[Consumer("head", offset=0)])
    assert net.head.in_channels == 16
    assert verify(before, net, torch.randn(2, 3, 6, 6))["max_abs"] <= EXACT


class ResNetLike(nn.Module):
    """stem -> torchvision BasicBlock -> 1x1 head; the stem's and conv2's channels are summed."""

    def __init__(self, c: int = 8):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        self.relu = nn.ReLU()
        self.block = BasicBlock(c, c)
        self.head = nn.Conv2d(c, 3, 1)

    def forward(self, x):
        return self.head(self.block(self.relu(self.stem(x))))


@pytest.mark.parametrize("mode", ["net2net", "morphism"])
def test_residual_block_tied_channels(mode, warm):
    net = warm(ResNetLike().double(), 4, 3, 8, 8)
    before = copy.deepcopy(net)
    # The sum stem + conv2 is one set of channels: both writers share one mapping, and each
    # reader of the sum (block.conv1 via the identity path's input, head) is listed once.
    tied = widen(net, "stem.0", 13, mode=mode, consumers=["block.conv1"])
    assert tied.norms == ["stem.1"]
    widen(net, "block.conv2", 13, norms=["block.bn2"], consumers=["head"], mapping=tied.mapping)
    # The block's inner width is independent.
    widen(net, "block.conv1", 16, mode=mode, norms=["block.bn1"], consumers=["block.conv2"])
    assert net.block.conv2.weight.shape == (13, 16, 3, 3)
    assert verify(before, net, torch.randn(2, 3, 8, 8))["max_abs"] <= EXACT


def test_shared_mapping_must_fit():
    net = ResNetLike().double()
    tied = widen(net, "stem.0", 12, consumers=["block.conv1"])
    with pytest.raises(GrowthError, match="block.conv2"):
        widen(net, "block.conv2", 14, consumers=["head"], mapping=tied.mapping)


def grouped_net() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(4, 8, 1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1, groups=4, bias=False),  # ResNeXt-style grouped 3x3
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 4, 1),
    ).double()


def test_grouped_conv_replicates_within_groups(warm):
    net = warm(grouped_net(), 4, 4, 6, 6)
    before = copy.deepcopy(net)
    into = widen(net, "0", 16)  # feeds the grouped conv: copies stay inside its 4 groups
    assert into.mapping.groups == 4 and net[3].weight.shape == (8, 4, 3, 3)
    out = widen(net, "3", 12)  # the grouped conv itself: 2 -> 3 channels per group
    assert (out.mapping.source // 2 == torch.arange(12) // 3).all()
    assert net[3].groups == 4 and net[3].weight.shape == (12, 4, 3, 3)
    assert verify(before, net, torch.randn(2, 4, 6, 6))["max_abs"] <= EXACT


def test_depthwise_widening_becomes_channel_multiplier():
    net = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, groups=4), nn.ReLU(), nn.Conv2d(4, 2, 1))
    net = net.double()
    before = copy.deepcopy(net)
    widen(net, "0", 8)
    assert net[0].groups == 4 and net[0].in_channels == 4 and net[0].out_channels == 8
    assert verify(before, net, torch.randn(1, 4, 5, 5))["max_abs"] <= EXACT


def test_grouped_conv_width_must_fit_groups():
    with pytest.raises(GrowthError, match=r"'3'.*groups=4"):
        widen(grouped_net(), "3", 10)
    with pytest.raises(GrowthError, match="groups=4"):
        widen(grouped_net(), "0", 10)


def test_unsupported_layers_name_themselves():
    net = nn.ModuleDict({"rnn": nn.LSTM(4, 8), "fc": nn.Linear(8, 2)})
    with pytest.raises(GrowthError, match=r"'rnn' \(LSTM\)"):
        widen(net, "rnn", 16, consumers=["fc"])
    gn = nn.Sequential(nn.Conv2d(3, 4, 1), nn.GroupNorm(2, 4), nn.Conv2d(4, 2, 1))
    with pytest.raises(GrowthError, match=r"'1' \(GroupNorm\)"):
        widen(gn, "0", 8)
    with pytest.raises(GrowthError, match="consumers="):
        widen(nn.ModuleList([nn.Linear(3, 4), nn.Linear(4, 2)]), "0", 8)
    with pytest.raises(GrowthError, match="smaller"):
        widen(nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)), "0", 2)


def test_widen_block_grows_hidden_widths_only(warm):
    stage = nn.Sequential(
        nn.Sequential(nn.Conv2d(3, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU()),
        nn.Sequential(nn.Conv2d(6, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU()),
    )
    net = warm(nn.Sequential(stage, nn.Conv2d(6, 2, 1)).double(), 2, 3, 6, 6)
    before = copy.deepcopy(net)
    recs = widen_block(net, "0", 2.0)
    assert [r.layer for r in recs] == ["0.0.0"] and net[0][1][0].weight.shape == (6, 12, 3, 3)
    assert verify(before, net, torch.randn(2, 3, 6, 6))["max_abs"] <= EXACT


def test_mapping_crossing_groups_is_refused_before_any_change():
    net = grouped_net()
    crossing = make_mapping(8, 12)  # made without groups: copies land in other groups
    with pytest.raises(GrowthError, match=r"grouped '3' \(Conv2d\) \(groups=4\)"):
        widen(net, "0", 12, mapping=crossing)
    assert net[0].weight.shape == (8, 4, 1, 1) and net[1].num_features == 8
