"""The one small interface through which the engine drives any task.

A task knows its model family, how to batch samples, how to compute a loss and how to
evaluate; the engine knows loops, optimisers, schedules, checkpoints and processes. The
engine has no task-specific branch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from regionlab.data.sample import Sample


@dataclass
class StepOutput:
    """One training step's loss (scalar, with graph) and numbers to log."""

    loss: torch.Tensor
    logs: dict[str, float] = field(default_factory=dict)


class Task(Protocol):
    name: str  # e.g. "segment": checkpoints of another task are refused
    main_metric: str  # higher is better; picks best.pt

    def spec_dict(self) -> dict:
        """The model description stored in checkpoints (enough to rebuild the model)."""

    def build_model(self) -> nn.Module: ...

    def transform(self, train: bool) -> Callable[[Sample, torch.Generator | None], Sample]: ...

    def collate(self, samples: list[Sample]) -> Any: ...

    def step(self, model: nn.Module, batch: Any, device: torch.device) -> StepOutput: ...

    def evaluate(self, model: nn.Module, batches: Iterable[Any], device: torch.device) -> dict: ...
