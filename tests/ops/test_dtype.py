"""Head outputs handed to losses: fp32 from autocast's bf16 / fp16, any other dtype kept."""

import torch

from regionlab.ops.dtype import loss_precision


def test_low_precision_becomes_fp32_and_full_precision_is_kept_as_it_is():
    for low in (torch.bfloat16, torch.float16):
        x = torch.tensor([1.5, -2.25], dtype=low)
        assert loss_precision(x).dtype == torch.float32
        assert torch.equal(loss_precision(x), x.float())
    for full in (torch.float32, torch.float64):
        x = torch.tensor([1.5, -2.25], dtype=full)
        assert loss_precision(x) is x  # an fp64 model stays fp64 (no silent downcast)
