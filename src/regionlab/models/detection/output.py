"""What every detector of the library returns.

Decoding and non-maximum suppression cost as much as a small part of a training step and are
wasted there, so a detector hands over a *decode closure* and :attr:`DetectionOutput.detections`
runs it only on first access (then keeps the result)::

    out = model(images, targets)   # training: out.loss, out.losses; nothing decoded
    out.detections                 # decoded now, once
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from torch import Tensor

from regionlab.ops.detections import Detections


@dataclass(eq=False)
class DetectionOutput:
    """A detector's predictions and, with targets, its losses.

    - :attr:`detections`: ``list[Detections]``, one per image: ``boxes`` ``float (N, 4)``
      ``xyxy`` in pixels of the *input tensor* (clipped to it; map letterboxed inputs back
      with :func:`regionlab.data.detection_transforms.unletterbox`), ``labels`` ``int64 (N,)``
      in ``1 .. C`` (0 is background and never predicted), ``scores`` ``float (N,)`` in
      ``[0, 1]``, sorted by descending score. Computed lazily (see the module docstring),
      detached from the graph.
    - ``loss``: the weighted total (scalar) when targets were given, else ``None``.
    - ``losses``: each named task loss, unweighted (e.g. ``cls``, ``box``, ``l1``).
    - ``weights``: each task's effective multiplier from the model's
      :class:`~regionlab.models.losses.MultiTaskLoss`.
    """

    decode: Callable[[], list[Detections]] | None = field(default=None, repr=False)
    loss: Tensor | None = None
    losses: dict[str, Tensor] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    _detections: list[Detections] | None = field(default=None, repr=False)

    @classmethod
    def from_detections(cls, detections: list[Detections], **kwargs) -> DetectionOutput:
        """An output whose detections are already computed."""
        return cls(None, _detections=list(detections), **kwargs)

    @property
    def decoded(self) -> bool:
        """Whether :attr:`detections` has been computed."""
        return self._detections is not None

    @property
    def detections(self) -> list[Detections]:
        if self._detections is None:
            if self.decode is None:
                raise ValueError("DetectionOutput has neither detections nor a decode function")
            self._detections = self.decode()
            self.decode = None  # drop the closure and the head outputs it holds
        return self._detections
