"""The model summary printed when a run starts: parameters, and GFLOPs of one forward.

FLOPs are counted by :class:`torch.utils.flop_counter.FlopCounterMode` around the run's first
real training step (the task's loss step, forward and loss, no backward), so no task has to
describe its input and nothing extra runs: the counter only watches the operators the step
calls (the same kernels, the same numbers, no random draw). A multiply-add counts as two FLOPs;
element-wise operators (activations, normalisation) are not counted, as usual.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


@dataclass
class ModelSummary:
    """``input``: ``(C, H, W)`` of one image of the counted forward (the model's first tensor
    argument, ``(N, C, H, W)``, without its batch dimension); ``flops_per_image``: that forward's
    FLOPs divided by ``N``. Both ``None`` until a step was counted."""

    parameters: int
    trainable: int
    flops_per_image: int | None = None
    input: list[int] | None = None

    @property
    def gflops(self) -> float | None:
        return None if self.flops_per_image is None else self.flops_per_image / 1e9

    def to_dict(self) -> dict:
        d = asdict(self)
        d["gflops_per_image"] = None if self.gflops is None else round(self.gflops, 6)
        return d

    def line(self) -> str:
        text = f"model: {self.parameters:,} parameters"
        if self.trainable != self.parameters:
            text += f" ({self.trainable:,} trainable)"
        if self.gflops is not None:
            at = "x".join(str(s) for s in self.input) if self.input else "?"
            text += f", {self.gflops:.3g} GFLOPs per image (training forward at {at})"
        return text


def parameter_counts(model: nn.Module) -> tuple[int, int]:
    """``(all, trainable)`` parameter counts (shared parameters counted once)."""
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


class FlopCount:
    """``with FlopCount(model) as fc: <one forward>``, then :meth:`summary`.

    Everything computed inside the block is counted; the batch size is the leading dimension of
    the first tensor ``model`` is called with (a list of images counts its length)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.batch: int | None = None
        self.input: list[int] | None = None
        self._mode = FlopCounterMode(display=False)
        self._hook = None

    def _see_input(self, module, args, kwargs) -> None:
        if self.batch is not None:  # the outermost call only
            return
        first = next((a for a in (*args, *kwargs.values()) if _is_images(a)), None)
        if isinstance(first, torch.Tensor):
            self.batch, self.input = int(first.shape[0]), list(first.shape[1:])
        elif first is not None:
            self.batch, self.input = len(first), list(first[0].shape)

    def __enter__(self) -> FlopCount:
        self._hook = self.model.register_forward_pre_hook(self._see_input, with_kwargs=True)
        self._mode.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._mode.__exit__(*exc)
        self._hook.remove()

    @property
    def flops(self) -> int:
        return int(self._mode.get_total_flops())

    def summary(self) -> ModelSummary:
        total, trainable = parameter_counts(self.model)
        per_image = self.flops // self.batch if self.batch else None
        return ModelSummary(total, trainable, per_image, self.input)


def _is_images(value) -> bool:
    if isinstance(value, torch.Tensor):
        return value.ndim >= 2 and value.is_floating_point()
    return (
        isinstance(value, list | tuple)
        and len(value) > 0
        and all(isinstance(v, torch.Tensor) and v.is_floating_point() for v in value)
    )
