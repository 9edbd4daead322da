import pytest
import torch
from torch import nn

from regionlab.engine.checkpoint import CheckpointError, RunCheckpoint, RunState
from regionlab.engine.growing import model_from_checkpoint


class _Task:
    def build_model(self):
        return nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 1))


def _ckpt(grown=0, grow=""):
    torch.manual_seed(1)
    trained = _Task().build_model()
    if grown:
        from regionlab.engine.growing import apply_steps, schedule

        apply_steps(trained, schedule(grow), 0, grown, seed=3)
    state = RunState(grown=grown)
    return trained, RunCheckpoint("t", {}, {"grow": grow, "seed": 3}, trained.state_dict(), state)


@pytest.mark.parametrize("as_dict", [False, True])
def test_model_from_a_typed_or_raw_checkpoint(as_dict):
    trained, ckpt = _ckpt()
    model = model_from_checkpoint(_Task(), ckpt.to_dict() if as_dict else ckpt)
    x = torch.randn(5, 2)
    assert torch.equal(model(x), trained(x))


def test_growth_is_replayed_before_loading():
    trained, ckpt = _ckpt(grown=1, grow="epoch=1:wider(0,2x)")
    model = model_from_checkpoint(_Task(), ckpt)
    assert model[0].out_features == 8
    x = torch.randn(5, 2)
    assert torch.allclose(model(x), trained(x))


def test_a_malformed_raw_checkpoint_is_a_checkpoint_error():
    _, ckpt = _ckpt()
    raw = ckpt.to_dict()
    del raw["config"]
    with pytest.raises(CheckpointError, match="lacks field.*config"):
        model_from_checkpoint(_Task(), raw)
