"""BatchNorm over the global batch of a torchrun job (``TrainConfig.sync_bn``, ``--sync-bn``).

Each process of a data-parallel run sees a slice of the global batch; plain BatchNorm then
normalises with the slice's statistics, and a 2-process run differs from the 1-process run of
the same global batch. :func:`sync_batchnorm` makes every BatchNorm layer of a model use the
statistics of the whole global batch, so the two runs agree within float rounding:

- on CUDA (NCCL) with torch's :class:`~torch.nn.SyncBatchNorm`;
- on CPU (gloo), where torch's SyncBatchNorm does not run, by changing each layer's class in
  place to a subclass whose training forward all-reduces the per-channel sums (through
  ``torch.distributed.nn``, whose backward all-reduces the gradients, as the global batch's
  gradient needs). The layers keep their parameters, buffers, state-dict keys and
  ``isinstance`` (a ``BatchNorm2d`` stays one), so checkpoints and growth see no difference.

Evaluation (eval mode) uses the running statistics as usual: nothing is exchanged.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["GlobalBatchNormMixin", "sync_batchnorm"]


def sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """The model whose BatchNorm layers normalise over the global batch (see module doc)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for module in model.modules():
        if isinstance(module, _BatchNorm) and not isinstance(module, GlobalBatchNormMixin):
            module.__class__ = _global_class(type(module))
    return model


_CLASSES: dict[type, type] = {}


def _global_class(cls: type) -> type:
    if cls not in _CLASSES:
        _CLASSES[cls] = type(f"Global{cls.__name__}", (GlobalBatchNormMixin, cls), {})
    return _CLASSES[cls]


def _all_reduce(t: torch.Tensor) -> torch.Tensor:
    from torch.distributed import nn as dist_nn  # differentiable collectives

    return dist_nn.functional.all_reduce(t)


class GlobalBatchNormMixin:
    """Training forward with the global batch's mean and (biased) variance; running
    statistics updated as BatchNorm does, with the global unbiased variance."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized()):
            return super().forward(x)
        if dist.get_world_size() == 1:
            return super().forward(x)
        self._check_input_dim(x)
        c = x.shape[1]
        dims = [d for d in range(x.dim()) if d != 1]
        shape = [1, c] + [1] * (x.dim() - 2)
        local = x.new_tensor([x.numel() // c])
        # Two passes (mean, then squared deviations), as exact as one process's batch_norm.
        sums = _all_reduce(torch.cat([x.sum(dims), local]))
        n = sums[c]
        mean = sums[:c] / n
        centred = x - mean.view(shape)
        var = _all_reduce((centred * centred).sum(dims)) / n
        self._update_running(mean.detach(), var.detach(), n.detach())
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y

    @torch.no_grad()
    def _update_running(self, mean: torch.Tensor, var: torch.Tensor, n: torch.Tensor) -> None:
        if not self.track_running_stats:
            return
        self.num_batches_tracked.add_(1)
        if self.momentum is None:  # cumulative moving average
            factor = 1.0 / float(self.num_batches_tracked)
        else:
            factor = self.momentum
        unbiased = var * n / (n - 1).clamp(min=1)
        self.running_mean.mul_(1 - factor).add_(mean, alpha=factor)
        self.running_var.mul_(1 - factor).add_(unbiased, alpha=factor)
