"""Tensors handed from a model's layers to its losses."""

from __future__ import annotations

import torch

LOW_PRECISION = (torch.bfloat16, torch.float16)


def loss_precision(x: torch.Tensor) -> torch.Tensor:
    """``x`` in fp32 when autocast computed it in bf16 / fp16, else ``x`` itself (fp32 and
    fp64 models keep their dtype): losses, box decoding and matching read head outputs at full
    precision whatever arithmetic the layers ran in."""
    return x.float() if x.dtype in LOW_PRECISION else x
