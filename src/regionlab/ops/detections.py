"""One per-image structure for a variable number of objects: predictions and targets alike.

``Detections`` holds ``N`` objects of one image with synchronised fields, so indexing, masking,
sorting, moving to a device and concatenation keep every field aligned::

    keep = dets.scores > 0.5
    dets = dets[keep]            # boxes, labels, scores, masks, keypoints all filtered together
    dets = dets[dets.scores.argsort(descending=True)[:100]]

Fields (``N`` objects):

- ``boxes``: ``float (N, 4)`` ``xyxy`` in absolute pixels of the image they belong to;
- ``labels``: ``int64 (N,)`` class indices into the dataset's ``classes`` (0 is background, so
  real objects have labels >= 1);
- ``scores``: ``float (N,)`` confidence in ``[0, 1]``, or ``None`` (ground truth);
- ``masks``: ``(N, H, W)`` (``bool`` for targets or thresholded predictions, ``float``
  probabilities otherwise), or ``None``;
- ``keypoints``: ``float (N, K, 3)`` ``(x, y, v)`` (COCO visibility for targets, a score for
  predictions), or ``None``;
- ``iscrowd``: ``bool (N,)`` regions to ignore (COCO crowds, VOC "difficult"), or ``None``.
- ``area``: ``float (N,)`` each ground-truth object's area as COCO's size split reads it (the
  dataset's stated area, else the mask's pixels), or ``None`` (then the box's ``w * h``).
- ``mask_scores``: ``float (N,)`` in ``[0, 1]``, how each predicted *mask* ranks where a mask
  head scores its masks apart from their boxes (Mask Scoring R-CNN's split: box metrics rank
  by ``scores``, mask metrics by these), or ``None`` (masks rank by ``scores`` too).

Imports only torch (``ops`` room).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import torch
from torch import Tensor

_OPTIONAL = ("scores", "masks", "keypoints", "iscrowd", "area", "mask_scores")


@dataclass
class Detections:
    boxes: Tensor
    labels: Tensor
    scores: Tensor | None = None
    masks: Tensor | None = None
    keypoints: Tensor | None = None
    iscrowd: Tensor | None = None
    area: Tensor | None = None
    mask_scores: Tensor | None = None

    def __post_init__(self) -> None:
        if self.boxes.dim() != 2 or self.boxes.shape[1] != 4:
            raise ValueError(f"Detections.boxes must be (N, 4), got {tuple(self.boxes.shape)}")
        n = self.boxes.shape[0]
        if self.labels.shape != (n,):
            raise ValueError(f"Detections.labels must be ({n},), got {tuple(self.labels.shape)}")
        for name in _OPTIONAL:
            t = getattr(self, name)
            if t is not None and (t.dim() == 0 or t.shape[0] != n):
                raise ValueError(
                    f"Detections.{name} must have {n} rows, got {tuple(t.shape)} "
                    f"(boxes has {n} objects)"
                )

    # ------------------------------------------------------------------ construction

    @classmethod
    def empty(cls, *, scores: bool = True, device: torch.device | str | None = None) -> Detections:
        """No objects (with an empty ``scores`` field when ``scores``)."""
        return cls(
            torch.zeros((0, 4), device=device),
            torch.zeros((0,), dtype=torch.int64, device=device),
            torch.zeros((0,), device=device) if scores else None,
        )

    @classmethod
    def cat(cls, parts: Sequence[Detections]) -> Detections:
        """Concatenate the objects of several parts of one image (e.g. per-level predictions).

        An optional field is kept only when every part has it."""
        if not parts:
            raise ValueError("Detections.cat needs at least one part")
        out = {}
        for f in fields(cls):
            values = [getattr(p, f.name) for p in parts]
            if any(v is None for v in values):
                if f.name in ("boxes", "labels"):
                    raise ValueError(f"Detections.cat: a part has no {f.name}")
                out[f.name] = None
            else:
                out[f.name] = torch.cat(values)
        return cls(**out)

    # ------------------------------------------------------------------ access

    def __len__(self) -> int:
        return self.boxes.shape[0]

    def __getitem__(self, index) -> Detections:
        """Select objects by a bool mask, an index tensor/list, a slice or an int (which keeps
        the object dimension: ``dets[0]`` has one object)."""
        if isinstance(index, int):
            index = slice(index, index + 1) if index != -1 else slice(-1, None)
        if isinstance(index, list):
            index = torch.as_tensor(index, dtype=torch.int64, device=self.boxes.device)
        return Detections(
            **{
                f.name: (None if (v := getattr(self, f.name)) is None else v[index])
                for f in fields(self)
            }
        )

    def to(self, device: torch.device | str) -> Detections:
        return Detections(
            **{
                f.name: (None if (v := getattr(self, f.name)) is None else v.to(device))
                for f in fields(self)
            }
        )

    @property
    def device(self) -> torch.device:
        return self.boxes.device

    def detach(self) -> Detections:
        return Detections(
            **{
                f.name: (None if (v := getattr(self, f.name)) is None else v.detach())
                for f in fields(self)
            }
        )

    def not_crowd(self) -> Detections:
        """The objects that are not crowd/difficult regions."""
        if self.iscrowd is None:
            return self
        return self[~self.iscrowd]

    def crowd(self) -> Detections:
        """Only the crowd/difficult regions (none when ``iscrowd`` is unset)."""
        if self.iscrowd is None:
            return self[torch.zeros(len(self), dtype=torch.bool, device=self.device)]
        return self[self.iscrowd]
