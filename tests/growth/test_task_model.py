"""The real segmentation model grows mid-training and computes the same logits."""

import copy

import torch

from regionlab.growth import Consumer, deepen, verify, widen, widen_block
from regionlab.models.backbones import SmallEncoder
from regionlab.models.segmentation.encoder_decoder import EncoderDecoder

EXACT = 1e-10


def model():
    return EncoderDecoder(SmallEncoder((8, 16, 32)), num_classes=4).double()


def test_encoder_decoder_widen_and_deepen(warm):
    net = warm(model(), 2, 3, 32, 32)
    before = copy.deepcopy(net)
    rec = widen(net, "encoder.stages.1.0.0", 32)  # conv_bn_relu -> next conv_bn_relu, inferred
    assert rec.norms == ["encoder.stages.1.0.1"]
    assert [c.name for c in rec.consumers] == ["encoder.stages.1.1.0"]
    deep = deepen(net, "encoder.stages.2")  # a third conv-BN-ReLU at the end of the stage
    assert deep.inserted == "encoder.stages.2.2"
    diff = verify(before, net, torch.rand(2, 3, 32, 32))
    assert diff["max_abs"] <= EXACT and diff["max_rel"] <= EXACT


def test_encoder_feature_read_by_next_stage_and_decoder_skip(warm):
    net = warm(model(), 2, 3, 32, 32)
    before = copy.deepcopy(net)
    # Stage 0's output (8 channels) is pooled into stage 1 and concatenated as the skip of
    # decoder block 1, after its 16 upsampled channels: cat([up(x), skip]).
    widen(
        net,
        "encoder.stages.0.1.0",
        13,
        consumers=["encoder.stages.1.0.0", Consumer("decoder.1.convs.0.0", offset=16)],
    )
    assert net.decoder[1].convs[0][0].in_channels == 16 + 13
    widen_block(net, "decoder.1", 2.0, mode="morphism")
    assert verify(before, net, torch.rand(2, 3, 32, 32))["max_abs"] <= EXACT


def test_schedule_style_growth_with_optimizer_keeps_training(warm):
    net = warm(model(), 2, 3, 16, 16)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    x, y = torch.rand(2, 3, 16, 16, dtype=torch.float64), torch.randint(0, 4, (2, 16, 16))
    net.train()
    net(x, y).loss.backward()
    opt.step()
    net.eval()
    before = copy.deepcopy(net)
    widen_block(net, "encoder.stages.1", 2.0, optimizer=opt)  # "wider(encoder.stages.1,2x)"
    deepen(net, "encoder.stages.2", optimizer=opt)  # "deeper(encoder.stages.2)"
    assert net.encoder.stages[1][1][0].in_channels == 32
    assert verify(before, net, x)["max_abs"] <= EXACT
    net.train()
    opt.zero_grad()
    net(x, y).loss.backward()
    opt.step()
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(net.parameters()))
