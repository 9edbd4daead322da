"""Text growth schedules parse strictly and apply to the real model mid-training."""

import copy

import pytest
import torch

from regionlab.growth import GrowthError, GrowthStep, apply_step, parse_schedule, verify
from regionlab.models.backbones import SmallEncoder
from regionlab.models.segmentation.encoder_decoder import EncoderDecoder


def test_parse_schedule():
    steps = parse_schedule(
        "epoch=6:deeper(encoder.stages.2); epoch=3:wider(encoder.stages.1,2x);"
        " epoch=6: kernel(head, 3) ; epoch=7:deeper(decoder.0,residual)"
    )
    assert steps[0] == GrowthStep(3, "wider", "encoder.stages.1", "2x")
    assert [s.epoch for s in steps] == [3, 6, 6, 7] and steps[1].op == "deeper"
    assert str(steps[0]) == "epoch=3:wider(encoder.stages.1,2x)"


@pytest.mark.parametrize(
    "bad", ["wider(a,2x)", "epoch=1:wider(a)", "epoch=1:deeper(a,tanh)", "epoch=x:kernel(a,5)"]
)
def test_parse_schedule_rejects(bad):
    with pytest.raises(GrowthError, match="growth schedule entry"):
        parse_schedule(bad)


def test_apply_schedule_with_optimizer():
    net = EncoderDecoder(SmallEncoder((8, 16, 32)), num_classes=4).double().eval()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    before = copy.deepcopy(net)
    sched = "epoch=1:wider(encoder.stages.1,1.5x); epoch=1:deeper(encoder.stages.2);"
    sched += "epoch=2:wider(head,2x); epoch=2:kernel(encoder.stem.0.0,5)"
    with pytest.raises(GrowthError, match="'head'"):  # the model output cannot widen
        apply_step(net, parse_schedule(sched)[2], opt)
    for step in parse_schedule(sched)[:2] + parse_schedule(sched)[3:]:
        apply_step(net, step, opt)
    assert net.encoder.stages[1][0][0].out_channels == 24
    x = torch.rand(1, 3, 16, 16)
    assert verify(before, net, x)["max_abs"] <= 1e-10
    net(x.double()).logits.sum().backward()
    opt.step()
