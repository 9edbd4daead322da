"""The model summary: parameters as the model holds them, FLOPs as counted by hand."""

import torch
from torch import nn

from regionlab.engine.summary import FlopCount, ModelSummary, parameter_counts


def _tiny() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 5))


def test_parameters_are_the_models_numel_and_frozen_ones_are_not_trainable():
    model = _tiny()
    model[0].weight.requires_grad_(False)
    total, trainable = parameter_counts(model)
    assert total == sum(p.numel() for p in model.parameters()) == 4 * 3 * 9 + 4 + 256 * 5 + 5
    assert trainable == total - 4 * 3 * 9


def test_flops_per_image_equal_a_hand_count():
    model = _tiny()
    with FlopCount(model) as fc:
        model(torch.rand(2, 3, 8, 8))
    s = fc.summary()
    # a multiply-add is 2 FLOPs: the 3x3 conv, 4 outputs at 8x8 from 3x9 inputs each; the
    # linear layer 5 outputs from 256 inputs (biases and the ReLU are not counted)
    conv, linear = 2 * 4 * 8 * 8 * 3 * 9, 2 * 5 * 256
    assert s.flops_per_image == conv + linear == 16384
    assert s.input == [3, 8, 8]
    assert s.parameters == sum(p.numel() for p in model.parameters())
    assert s.gflops == 16384 / 1e9 > 0
    assert "GFLOPs per image (training forward at 3x8x8)" in s.line()


def test_counting_changes_neither_the_result_nor_the_random_state():
    model = _tiny()
    x = torch.rand(2, 3, 8, 8)
    plain = model(x)
    state = torch.get_rng_state()
    with FlopCount(model):
        counted = model(x)
    assert torch.equal(plain, counted)
    assert torch.equal(state, torch.get_rng_state())
    assert not model._forward_pre_hooks  # the input hook is gone


def test_a_summary_without_a_counted_step_has_no_flops():
    s = ModelSummary(10, 10)
    assert s.gflops is None and s.to_dict()["gflops_per_image"] is None
    assert s.line() == "model: 10 parameters"
