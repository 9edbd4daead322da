"""The efficiency benchmark counts FLOPs with torch's counter: checked here against a hand count
of the small backbone's convolutions (forward, and forward + backward), so the benchmark's
GFLOP/s rest on a number we can derive."""

import torch
from torch.utils.flop_counter import FlopCounterMode

from regionlab.models.backbones import SmallEncoder


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
