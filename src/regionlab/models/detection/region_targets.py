"""Which regions a region detector trains on, and as what: match to the objects by IoU, then a
balanced, generator-driven sample per image. The RPN (on anchors), the second stage (on
proposals) and the sliding window (on windows) all go through :func:`sample_regions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from regionlab.models.detection.protocols import PositiveRegions
from regionlab.ops.detections import Detections
from regionlab.ops.matcher import Matcher, match_targets
from regionlab.ops.sampler import BalancedSampler, image_generators


def sample_regions(
    matcher: Matcher,
    sampler: BalancedSampler,
    boxes: Tensor,
    target: Detections,
    gen: torch.Generator,
) -> tuple[Tensor, Tensor, Tensor]:
    """One image's ``(P, 4)`` candidate boxes matched to ``target`` (one crowd policy,
    :func:`~regionlab.ops.matcher.match_targets`) and sampled: ``(pos, neg, matches)`` with
    sorted ``int64`` indices into ``boxes`` and each candidate's object index (``< 0``: none)."""
    matches = match_targets(matcher, boxes, target.boxes, target.iscrowd)
    pos, neg = sampler(matches, gen)
    return pos, neg, matches


@dataclass
class RegionTargets:
    """The regions one batch trains on: ``rois`` one ``(K_i, 4)`` tensor per image; ``labels``
    ``int64 (K,)`` over all images (0 background); ``boxes`` ``(K, 4)`` the matched ground
    truth (meaningful where ``labels > 0``); ``matched`` one ``int64 (K_i,)`` per image: the
    index of each region's object in that image's targets (``-1`` for background)."""

    rois: list[Tensor]
    labels: Tensor
    boxes: Tensor
    matched: list[Tensor]

    def positives(
        self, limit: int, gen: torch.Generator | Sequence[torch.Generator]
    ) -> PositiveRegions:
        """The positive regions, at most ``limit`` per image drawn at random (``0``: all) with
        that image's generator (``gen``: one per image, or one for all): an unbiased subset, since a region
        head's loss is a mean over positives and its cost per region far above the box head's."""
        rois, labels, matched, start = [], [], [], 0
        for r, obj, g in zip(self.rois, self.matched, image_generators(gen, len(self.rois))):
            lab = self.labels[start : start + len(r)]
            start += len(r)
            pos = (lab > 0).nonzero().squeeze(1)
            if limit and len(pos) > limit:
                pos = pos[torch.randperm(len(pos), generator=g)[:limit].to(pos)]
            rois.append(r[pos])
            labels.append(lab[pos])
            matched.append(obj[pos])
        return PositiveRegions(rois, torch.cat(labels), matched)


class RegionSampler:
    """Labels proposals by IoU with the objects and samples a balanced set per image.

    The ground-truth boxes join the proposals (so every object has a perfect positive from the
    first step), and with ``jitter > 0`` as many randomly shifted copies each (up to 15% of the
    object's size: positives placed as a proposer would place them, which a fixed window grid
    rarely does)."""

    def __init__(
        self, matcher: Matcher, sampler: BalancedSampler, jitter: int = 0, add_gt: bool = True
    ) -> None:
        self.matcher, self.sampler, self.jitter, self.add_gt = matcher, sampler, jitter, add_gt

    def candidates(self, proposals: Tensor, target: Detections, gen: torch.Generator) -> Tensor:
        """``proposals`` plus the objects' boxes (and their jittered copies)."""
        cand = proposals.detach()
        # the objects' boxes only (not_crowd() would copy every field, masks included)
        real = target.boxes if target.iscrowd is None else target.boxes[~target.iscrowd]
        if not (self.add_gt and len(real)):
            return cand
        extra = [real]
        if self.jitter:
            b = real.repeat_interleave(self.jitter, dim=0)
            wh = (b[:, 2:] - b[:, :2]).repeat(1, 2)
            extra.append(b + (torch.rand(b.shape, generator=gen).to(b) - 0.5) * 0.3 * wh)
        return torch.cat([cand, *extra])

    def __call__(
        self,
        proposals: Sequence[Tensor],
        targets: Sequence[Detections],
        gen: torch.Generator | Sequence[torch.Generator],
    ) -> RegionTargets:
        """Each image's sample, drawn with its own generator (``gen``: one per image, or one
        for all)."""
        rois, labels, boxes, matched = [], [], [], []
        gens = image_generators(gen, len(targets))
        for props, target, g in zip(proposals, targets, gens, strict=True):
            cand = self.candidates(props, target, g)
            pos, neg, matches = sample_regions(self.matcher, self.sampler, cand, target, g)
            idx = torch.cat([pos, neg])
            lab = torch.zeros(len(idx), dtype=torch.int64, device=cand.device)
            gt = cand[idx].clone()
            obj = torch.full((len(idx),), -1, dtype=torch.int64, device=cand.device)
            if len(pos):
                lab[: len(pos)] = target.labels[matches[pos]]
                gt[: len(pos)] = target.boxes[matches[pos]]
                obj[: len(pos)] = matches[pos]
            rois.append(cand[idx])
            labels.append(lab)
            boxes.append(gt)
            matched.append(obj)
        return RegionTargets(rois, torch.cat(labels), torch.cat(boxes), matched)
