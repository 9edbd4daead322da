"""Where to look, unlearned: every sliding window, or selective search (Uijlings et al.).

Both satisfy :class:`~regionlab.models.detection.protocols.Proposer` (no losses); the learned
one, Faster R-CNN's RPN, is :mod:`.rpn`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from regionlab.models.detection.protocols import Maps
from regionlab.models.losses import TaskKind
from regionlab.ops.anchors import AnchorGenerator


class WindowProposer(nn.Module):
    """Every sliding window: sides ``sizes`` (fractions of the input side) times ``aspects``
    (height / width), a step of ``stride`` times the side, centres inside the image. One
    :class:`~regionlab.ops.anchors.AnchorGenerator` level per side."""

    loss_tasks: dict[str, TaskKind] = {}

    def __init__(self, sizes: Sequence[float], aspects: Sequence[float], stride: float) -> None:
        super().__init__()
        self.sizes, self.aspects, self.stride = list(sizes), list(aspects), stride
        self._cache: dict[tuple[int, int], Tensor] = {}

    def windows(self, size: tuple[int, int], device) -> Tensor:
        """``(W, 4)`` windows of an ``(H, W)`` input."""
        if size not in self._cache:
            side = min(size)
            sides = [s * side for s in self.sizes]
            strides = [max(1.0, self.stride * s) for s in sides]
            grid = AnchorGenerator(
                [(s,) for s in sides], [tuple(self.aspects)] * len(sides), strides
            )
            cells = [(max(1, round(size[0] / st)), max(1, round(size[1] / st))) for st in strides]
            w = torch.cat(grid(cells))
            c = (w[:, :2] + w[:, 2:]) / 2
            inside = (c[:, 0] >= 0) & (c[:, 0] < size[1]) & (c[:, 1] >= 0) & (c[:, 1] < size[0])
            self._cache[size] = w[inside]
        return self._cache[size].to(device)

    def forward(self, images: Tensor, maps: Maps, targets=None, gen=None):
        w = self.windows((int(images.shape[-2]), int(images.shape[-1])), images.device)
        return [w] * len(images), {}


class SelectiveSearchProposer(nn.Module):
    """Selective search on each image, through ``cache`` (a
    :class:`~regionlab.ops.proposals.ProposalCache`, chosen by whoever builds the model; ``None``
    computes every time) keyed by the image's pixels and the settings, so an epoch's second look
    at an image, and evaluation, cost nothing. The first ``top`` boxes are kept. It is not
    learned: training images must repeat exactly for the cache to help, so R-CNN and Fast
    R-CNN train on flips only, as the papers did."""

    loss_tasks: dict[str, TaskKind] = {}

    def __init__(
        self, mode: str = "fast", top: int = 2000, max_side: int | None = None, cache=None
    ) -> None:
        super().__init__()
        self.mode, self.top, self.max_side, self.cache = mode, top, max_side, cache

    def _one(self, image: Tensor) -> Tensor:
        from regionlab.ops.proposals import selective_search

        img = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
        if self.cache is not None:
            boxes = self.cache.get(img, self.mode, self.max_side)
        else:
            boxes = selective_search(img, self.mode, self.max_side)
        boxes = boxes[: self.top].to(image.device)
        if len(boxes) == 0:  # a flat image: the whole image is the one region
            h, w = image.shape[-2:]
            boxes = torch.tensor([[0.0, 0.0, float(w), float(h)]], device=image.device)
        return boxes

    def forward(self, images: Tensor, maps: Maps, targets=None, gen=None):
        return [self._one(img) for img in images], {}
