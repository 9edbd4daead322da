"""The one small interface through which the engine, the tuner and the command line drive any
task.

A task knows its model family, how to batch samples, how to compute a loss, how to evaluate and
how to predict; the engine knows loops, optimisers, schedules, checkpoints and processes. The
engine has no task-specific branch.
"""

from __future__ import annotations

from collections.abc import Callable
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
    """What the engine calls. Optional, looked up with ``getattr`` (not part of the protocol,
    so a task without it still is one): ``draw(model, image) -> PIL.Image``, a picture of the
    model's prediction on a ``uint8 (3, H, W)`` image; with ``--tensorboard`` the engine draws
    the first validation images at each evaluation with it."""

    name: str  # e.g. "segment": checkpoints of another task are refused
    main_metric: str  # a key of evaluate()'s result; higher is better; picks best.pt
    classes: list[str]  # the dataset's class names; eval refuses data with other classes

    def spec_dict(self) -> dict:
        """The model and task description stored in checkpoints: plain JSON-like values,
        enough for :meth:`from_spec_dict` to rebuild an equal task."""

    @classmethod
    def from_spec_dict(cls, d: dict) -> Task:
        """The task a checkpoint's ``spec`` describes (inverse of :meth:`spec_dict`)."""

    @staticmethod
    def check_sample(sample: Sample) -> None:
        """Raise :class:`~regionlab.data.errors.DataError` if this task cannot use ``sample``
        (e.g. localization needs an object). Run on every sample before training."""

    def build_model(self) -> nn.Module:
        """A fresh model; its forward returns losses and predictions in one call."""

    def transform(self, train: bool) -> Callable[[Sample, torch.Generator | None], Any]:
        """``(sample, generator) -> item``: what :meth:`collate` takes a list of. Training
        augmentation draws only from ``generator`` (so runs resume exactly)."""

    def collate(self, items: list[Any]) -> Any:
        """Items -> one batch for :meth:`step` and :meth:`evaluate`."""

    def step(self, model: nn.Module, batch: Any, device: torch.device) -> StepOutput:
        """Loss of one training batch (the engine calls backward and the optimiser)."""

    def evaluate_batch(self, model: nn.Module, batch: Any, device: torch.device) -> Any:
        """What the metrics need of one batch (eval mode, no grad), computed with the model:
        CPU tensors and plain values, picklable (gathered across processes)."""

    def summarize(self, parts: list[Any]) -> dict:
        """Metrics from every batch's :meth:`evaluate_batch` part, in batch order, without the
        model: floats, including ``"loss"`` (the mean validation loss, used by the tuner) and
        :attr:`main_metric`. (``evaluate(model, batches, device)``, one process's both halves,
        comes with :class:`~regionlab.tasks.common.BatchwiseEvaluation`.)"""

    def predict(self, model: nn.Module, images: torch.Tensor) -> Any:
        """Predictions for ``float (N, 3, H, W)`` images in ``[0, 1]`` of any size, in the
        input's pixels (the command line's ``predict`` draws them)."""
