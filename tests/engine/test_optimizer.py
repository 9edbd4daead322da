"""The engine's optimizer: torch's fused kernels, the same steps as the per-tensor loop."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from regionlab.engine.config import TrainConfig
from regionlab.engine.optim import build_optimizer


@pytest.mark.parametrize("name", ["adamw", "sgd"])
def test_fused_optimizer_takes_the_same_steps_as_the_loop(name):
    torch.manual_seed(0)
    # (no bias before the norm: its gradient is rounding noise, which Adam scales up to lr)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), nn.Flatten(),
                          nn.LazyLinear(2))  # fmt: skip
    model(torch.randn(2, 3, 6, 6))
    twin = copy.deepcopy(model)
    cfg = TrainConfig(optimizer=name, lr=1e-2)
    fused = build_optimizer(model, cfg)
    assert fused.defaults["fused"] is True
    loop = build_optimizer(twin, cfg)
    for group in loop.param_groups:
        group["fused"] = False
    for step in range(3):
        x = torch.randn(4, 3, 6, 6, generator=torch.Generator().manual_seed(step))
        for net, opt in ((model, fused), (twin, loop)):
            opt.zero_grad()
            net(x).square().sum().backward()
            opt.step()
    for a, b in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # decay on weights only: biases and norms are left out
    assert [g["weight_decay"] for g in fused.param_groups] == [cfg.weight_decay, 0.0]


def test_parameters_the_fused_kernels_do_not_take_get_the_loop():
    model = nn.Module()
    model.weight = nn.Parameter(torch.ones(2, 2, dtype=torch.complex64))
    assert not build_optimizer(model, TrainConfig()).defaults["fused"]
