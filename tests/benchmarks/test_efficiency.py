"""The efficiency benchmark counts FLOPs with torch's counter: checked here against a hand count
of the small backbone's convolutions (forward, and forward + backward), so the benchmark's
GFLOP/s rest on a number we can derive."""

import sys
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from regionlab.models.backbones import SmallEncoder

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from _common import step_flop_counter  # noqa: E402


def _hand_count(widths, stem: int, n: int, side: int) -> int:
    """2 * (multiply-adds) of every 3x3 convolution of the small encoder (BN, ReLU and pooling
    are not matmul work and are not counted)."""
    convs = [(3, stem, side), (stem, stem, side)]
    cin, s = stem, side
    for w in widths:
        s //= 2
        convs += [(cin, w, s), (w, w, s)]
        cin = w
    return sum(2 * n * ci * co * 9 * s * s for ci, co, s in convs)


def test_flop_counter_equals_the_hand_count_of_the_small_backbone():
    torch.manual_seed(0)
    model = SmallEncoder((8, 16), stem=4)
    x = torch.randn(2, 3, 32, 32)
    want = _hand_count((8, 16), 4, 2, 32)
    with FlopCounterMode(display=False) as forward:
        out = model(x)
    assert forward.get_total_flops() == want
    # backward: the gradient w.r.t. the input and the weights cost one forward each, except
    # that the first convolution needs no input gradient (its input is the image)
    x.requires_grad_(False)
    with FlopCounterMode(display=False) as step:
        out = model(x)
        sum(f.sum() for f in out.features).backward()
    first = 2 * 2 * 3 * 4 * 9 * 32 * 32
    assert step.get_total_flops() == 3 * want - first


def _step_count(conv: torch.nn.Module, x: torch.Tensor, counter) -> int:
    with counter as c:
        conv(x).sum().backward()
    return c.get_total_flops()


def test_a_grouped_convolution_backward_costs_twice_its_forward():
    """torch 2.14 leaves the weight gradient of a grouped convolution undivided by ``groups``
    (64x too much for a depthwise 3x3 of 64 channels); the benchmarks' counter does not."""
    x = torch.randn(2, 64, 16, 16, requires_grad=True)
    for conv in (
        torch.nn.Conv2d(64, 64, 3, padding=1, groups=64, bias=False),  # depthwise
        torch.nn.Conv2d(64, 32, 3, padding=1, groups=4, bias=False),
        torch.nn.Conv2d(64, 32, 3, padding=1, bias=False),
        torch.nn.ConvTranspose2d(64, 32, 2, stride=2, bias=False),
    ):
        groups = conv.groups
        out_hw = conv(x).shape[-2:]
        # multiply-adds: per output pixel, per output channel, its in_channels/groups x k x k
        k = conv.kernel_size[0] * conv.kernel_size[1]
        if isinstance(conv, torch.nn.ConvTranspose2d):  # per *input* pixel, as torch counts it
            forward = 2 * 2 * 16 * 16 * 64 * conv.out_channels * k
        else:
            forward = 2 * 2 * out_hw.numel() * conv.out_channels * (64 // groups) * k
        assert _step_count(conv, x, FlopCounterMode(display=False)) >= 3 * forward
        assert _step_count(conv, x, step_flop_counter()) == 3 * forward
        if groups == 1:  # where torch is right, the two counters agree
            assert _step_count(conv, x, FlopCounterMode(display=False)) == 3 * forward
