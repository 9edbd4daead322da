"""Pick a fixed-size, positive-balanced minibatch of predictions per image for the loss.

Most anchors/proposals are background, so the RPN and the R-CNN heads train on a sample:
at most a fixed fraction of positives, negatives filling the rest.

Unlike ``torchvision.models.detection._utils.BalancedPositiveNegativeSampler`` (which draws
from the global RNG), every random choice comes from an explicit ``torch.Generator``, so a
resumed run that restores the generator's state samples exactly what the uninterrupted run
would have, and nothing else that uses the global RNG is disturbed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["BalancedSampler", "image_generators"]


def image_generators(
    generator: torch.Generator | Sequence[torch.Generator], n: int
) -> list[torch.Generator]:
    """One generator per image of a batch of ``n``: a sequence is checked and kept (each image
    then samples the same whatever else its batch holds, which is what lets a data-parallel
    slice sample exactly as the single-process batch did); one generator is shared by all
    images, each drawing after the one before."""
    if isinstance(generator, torch.Generator):
        return [generator] * n
    gens = list(generator)
    if len(gens) != n:
        raise ValueError(f"{len(gens)} generators for a batch of {n} images")
    return gens


class BalancedSampler:
    """Sample ``batch_size_per_image`` predictions, at most ``positive_fraction`` of them positive.

    Positives are ``matches >= 0``, negatives ``matches == -1`` (background); ignored
    predictions (``-2``) are never sampled. ``max_positives = floor(batch_size_per_image *
    positive_fraction)`` positives are drawn uniformly without replacement (all of them when
    there are fewer), then negatives fill the batch up to ``batch_size_per_image`` (all of them
    when there are fewer), so an image can yield a smaller batch.

    Typical values: RPN ``(256, 0.5)``, Fast/Faster R-CNN second stage ``(512, 0.25)``.
    """

    def __init__(self, batch_size_per_image: int, positive_fraction: float) -> None:
        if batch_size_per_image < 1:
            raise ValueError(f"batch_size_per_image must be >= 1, got {batch_size_per_image}")
        if not 0.0 <= positive_fraction <= 1.0:
            raise ValueError(f"positive_fraction must be in [0, 1], got {positive_fraction}")
        self.batch_size_per_image = int(batch_size_per_image)
        self.positive_fraction = float(positive_fraction)
        # Rounding before the floor keeps e.g. 100 * 0.29 = 28.999999999999996 at 29.
        self.max_positives = math.floor(round(batch_size_per_image * positive_fraction, 9))

    def __call__(self, matches: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Sample one image.

        Args:
            matches: ``int64 (P,)`` from :class:`~regionlab.ops.matcher.Matcher`.
            generator: the only source of randomness. It may live on another device than
                ``matches`` (a CPU generator gives the same sample for CUDA ``matches``).

        Returns:
            ``(pos_idx, neg_idx)``: sorted ``int64`` indices into ``matches`` on its device,
            ``len(pos_idx) <= max_positives`` and ``len(pos_idx) + len(neg_idx) <=
            batch_size_per_image``.
        """
        if matches.dim() != 1:
            raise ValueError(f"matches must be (P,), got {tuple(matches.shape)}")
        positive = (matches >= 0).nonzero().squeeze(1)
        negative = (matches == -1).nonzero().squeeze(1)
        num_pos = min(self.max_positives, positive.numel())
        num_neg = min(self.batch_size_per_image - num_pos, negative.numel())
        return _choose(positive, num_pos, generator), _choose(negative, num_neg, generator)

    def sample_batch(
        self, matches: Sequence[Tensor], generator: torch.Generator
    ) -> tuple[list[Tensor], list[Tensor]]:
        """Sample each image in order from the one ``generator``.

        Returns:
            ``(pos_idx, neg_idx)``: one index tensor per image, as :meth:`__call__`.
        """
        pos, neg = [], []
        for m in matches:
            p, n = self(m, generator)
            pos.append(p)
            neg.append(n)
        return pos, neg


def _choose(indices: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """``k`` of ``indices`` drawn uniformly without replacement, returned sorted."""
    order = torch.randperm(indices.numel(), generator=generator, device=generator.device)
    return indices[order[:k].to(indices.device)].sort().values
