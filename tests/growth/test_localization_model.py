"""The localization and keypoint nets grow mid-training and compute the same outputs."""

import copy

import pytest
import torch

from regionlab.growth import Consumer, deepen, verify, widen, widen_block
from regionlab.models.localization.builders import (
    KeypointSpec,
    LocalizationSpec,
    build_keypoint_model,
    build_localization_model,
)
from regionlab.models.localization.net import LocalizationTargets

EXACT = 1e-10


@pytest.mark.parametrize("mode", ["net2net", "morphism"])
@pytest.mark.parametrize("class_specific", [False, True])
def test_localization_net_widen_and_deepen(warm, mode, class_specific):
    spec = LocalizationSpec(3, widths=[8, 16, 32], class_specific=class_specific, hidden=32)
    net = warm(build_localization_model(spec).double(), 2, 3, 32, 32)
    before = copy.deepcopy(net)
    widen_block(net, "encoder.stages.1", 2.0, mode=mode)
    widen_block(net, "encoder.stages.2", 1.5, mode=mode)
    # The encoder's output feeds the pooled neck: conv -> 4x4 pool -> flatten -> linear, so
    # each channel is 16 inputs of the neck's Linear.
    widen(net, "encoder.stages.2.1.0", 48, consumers=[Consumer("neck.fc", hw=16)], mode=mode)
    assert net.neck.fc.in_features == 48 * 16
    deepen(net, "encoder.stages.2")
    x = torch.rand(3, 3, 32, 32, dtype=torch.float64)
    diff = verify(before, net, x)
    assert diff["max_abs"] <= EXACT and diff["max_rel"] <= EXACT
    # Losses (and so the multi-task weighting) are the same too.
    t = LocalizationTargets(torch.tensor([0, 1, 2]), torch.rand(3, 4, dtype=torch.float64))
    with torch.no_grad():
        assert abs(float(before(x, t).loss) - float(net(x, t).loss)) <= EXACT


def test_keypoint_net_widen(warm):
    net = warm(build_keypoint_model(KeypointSpec(5, widths=[8, 16, 32], hidden=32)).double(),
               2, 3, 32, 32)  # fmt: skip
    before = copy.deepcopy(net)
    widen_block(net, "encoder.stages.2", 2.0)
    diff = verify(before, net, torch.rand(2, 3, 32, 32, dtype=torch.float64))
    assert diff["max_abs"] <= EXACT


def test_verify_compares_every_output_tensor_not_only_the_logits():
    spec = LocalizationSpec(3, widths=[8, 16], hidden=16)
    net = build_localization_model(spec).double().eval()
    perturbed = copy.deepcopy(net)
    with torch.no_grad():
        perturbed.box_head.bias += 1.0  # logits unchanged, boxes all moved by 1
    x = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    assert verify(net, perturbed, x)["max_abs"] == pytest.approx(1.0, abs=1e-9)
