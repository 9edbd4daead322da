import copy

import pytest
import torch
from torch import nn

from regionlab.growth import GrowthError, verify


def _linear() -> nn.Linear:
    net = nn.Linear(3, 2)
    with torch.no_grad():
        net.weight.fill_(0.5)
        net.bias.zero_()
    return net


def test_identical_models_differ_by_nothing():
    net = _linear()
    out = verify(net, copy.deepcopy(net), torch.randn(4, 3))
    assert out == {"max_abs": 0.0, "max_rel": 0.0}


def test_a_grown_model_that_outputs_nan_fails_naming_it():
    before = _linear()
    after = copy.deepcopy(before)
    with torch.no_grad():
        after.bias[1] = float("nan")  # one NaN output unit; max(x, nan) used to keep x
    with pytest.raises(GrowthError, match=r"grown model.*2 non-finite \(NaN or inf\)"):
        verify(before, after, torch.randn(2, 3))


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_a_non_finite_reference_output_fails_too(value):
    before = _linear()
    with torch.no_grad():
        before.bias[0] = value
    after = copy.deepcopy(before)  # same non-finite output: nothing was compared
    with pytest.raises(GrowthError, match=r"original model.*output 0.*non-finite"):
        verify(before, after, torch.randn(2, 3))


def test_non_finite_values_inside_nested_outputs_are_found():
    class Two(nn.Module):
        def __init__(self, bad: bool) -> None:
            super().__init__()
            self.bad = bad

        def forward(self, x):
            y = x * float("inf") if self.bad else x
            return {"a": x, "b": [x.long(), y]}

    x = torch.ones(2, 3)
    assert verify(Two(False), Two(False), x)["max_abs"] == 0.0
    with pytest.raises(GrowthError, match="output 2"):
        verify(Two(False), Two(True), x)
