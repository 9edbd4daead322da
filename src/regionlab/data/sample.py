"""The one sample structure every reader and the scene generator produce.

Conventions (all tasks):
- ``image``: ``uint8`` tensor ``(3, H, W)``, RGB.
- ``semantic``: ``int64`` ``(H, W)`` class index per pixel, ``IGNORE_INDEX`` (255) where unlabelled;
  class 0 is "background" for datasets that have one.
- ``masks``: ``bool`` ``(N, H, W)``, one per object, aligned with ``boxes``/``labels``.
- ``boxes``: ``float32`` ``(N, 4)``, ``xyxy`` in absolute pixels, ``0 <= x1 < x2 <= W``.
- ``labels``: ``int64`` ``(N,)``, object class index into ``Dataset.classes``.
- ``keypoints``: ``float32`` ``(N, K, 3)`` with ``(x, y, v)``; ``v`` = 0 unlabelled, 1 occluded,
  2 visible (COCO's convention).
- ``iscrowd``: ``bool`` ``(N,)``; crowd regions are ignored by detectors and metrics.
- ``area``: ``float`` ``(N,)``, each object's area in the image's own pixels as its dataset
  states it (a COCO file's ``area``, ``float64`` so its numbers are kept exactly), or ``None``
  (then the mask's pixels, else the box's). COCO's small / medium / large split reads it, as
  pycocotools does; a transform that moves or scales pixels drops it (only the original
  image's areas are ever scored).
- ``captions``: sentences describing the image.
- ``phrase_objects``: for each caption, the object (index into ``boxes``) each of its object
  phrases names, in the order they are written; known only where the truth is (the scene
  generator), else ``None``. Region-word alignment is scored with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

IGNORE_INDEX = 255


@dataclass
class Sample:
    image: torch.Tensor
    semantic: torch.Tensor | None = None
    masks: torch.Tensor | None = None
    boxes: torch.Tensor = field(default_factory=lambda: torch.zeros((0, 4), dtype=torch.float32))
    labels: torch.Tensor = field(default_factory=lambda: torch.zeros((0,), dtype=torch.int64))
    keypoints: torch.Tensor | None = None
    iscrowd: torch.Tensor | None = None
    captions: list[str] = field(default_factory=list)
    phrase_objects: list[list[int]] | None = None
    image_id: int | str = 0
    path: str = ""
    area: torch.Tensor | None = None

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)`` of the image."""
        return int(self.image.shape[-2]), int(self.image.shape[-1])

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[0] != 3 or self.image.dtype != torch.uint8:
            raise ValueError(
                f"Sample.image must be uint8 (3, H, W), got {self.image.dtype} {tuple(self.image.shape)}"
            )
        if self.iscrowd is None:
            self.iscrowd = torch.zeros((len(self.labels),), dtype=torch.bool)
        n = len(self.labels)
        if self.boxes.shape != (n, 4):
            raise ValueError(f"Sample.boxes must be ({n}, 4), got {tuple(self.boxes.shape)}")
        if self.masks is not None and self.masks.shape[0] != n:
            raise ValueError(f"Sample.masks must hold {n} masks, got {self.masks.shape[0]}")
        if self.keypoints is not None and self.keypoints.shape[0] != n:
            raise ValueError(f"Sample.keypoints must hold {n} rows, got {self.keypoints.shape[0]}")
        if self.area is not None and self.area.shape != (n,):
            raise ValueError(f"Sample.area must be ({n},), got {tuple(self.area.shape)}")

    def object_areas(self) -> torch.Tensor:
        """``float (N,)``: each object's area as COCO's size split reads it: the dataset's
        own (``area``, its dtype kept), else the mask's pixel count, else the box's ``w * h``."""
        if self.area is not None:
            return self.area
        if self.masks is not None:
            return self.masks.flatten(1).sum(1, dtype=torch.float32)
        b = self.boxes.float()
        return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


class Dataset(torch.utils.data.Dataset):
    """Base of every reader: ``classes`` names the label indices, items are :class:`Sample`.

    ``classes[0]`` is ``"background"`` for object datasets (labels start at 1) and the first
    real class for purely semantic datasets such as CamVid.
    """

    classes: list[str] = []
    num_keypoints: int = 0
    #: True for datasets drawn by code (the scene generator): no file can be bad, so the
    #: decode pass before training (:func:`regionlab.data.scan.scan`) skips them.
    generated: bool = False

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def __getitem__(self, index: int) -> Sample:  # pragma: no cover - abstract
        raise NotImplementedError

    #: ``(records attribute, path attribute)``: where a reader keeps each sample's image file
    image_files: tuple[str, str] | None = None

    def image_file(self, index: int) -> Path | None:
        """The image file of sample ``index`` without decoding it (its header gives the size
        cheaply), or ``None`` where the reader has no file per sample."""
        if self.image_files is None:
            return None
        records, attr = self.image_files
        return Path(getattr(getattr(self, records)[index], attr))
