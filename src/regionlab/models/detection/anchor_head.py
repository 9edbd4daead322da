"""The grid detector's IoU-anchor head: the notes' literal idea, ``K`` anchor boxes per cell
matched by IoU, a softmax with a background class."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from regionlab.models.detection.grid_parts import GridBranches, HeadOutput, feature_sizes, flatten
from regionlab.models.losses import TaskKind, regression_loss
from regionlab.ops.anchors import AnchorGenerator
from regionlab.ops.boxes import BoxCoder
from regionlab.ops.detections import Detections
from regionlab.ops.global_batch import global_count
from regionlab.ops.matcher import Matcher, match_targets


class AnchorHead(nn.Module):
    """The notes' head: ``K`` anchor boxes per cell, each with ``C + 1`` softmax logits (column
    0 background) and 4 :class:`~regionlab.ops.boxes.BoxCoder` deltas.

    Training: anchors are matched to objects by IoU (``matcher``; crowds are ignored, as are
    background anchors lying mostly inside a crowd box); the class loss is cross-entropy over
    the positives and the ``neg_ratio`` times as many hardest negatives per image (at least
    ``neg_ratio`` even in an image without objects), divided by the number of positives (at
    least 1); the box loss ``box_loss`` (``smooth_l1 | l1 | l2``) on the positives' deltas.
    """

    loss_tasks: dict[str, TaskKind] = {"cls": "classification", "box": "regression"}

    def __init__(
        self,
        in_channels: Sequence[int],
        anchors: AnchorGenerator,
        num_classes: int,
        matcher: Matcher,
        coder: BoxCoder,
        cls_width: int = 64,
        box_width: int = 64,
        convs: int = 2,
        box_loss: str = "smooth_l1",
        neg_ratio: int = 3,
        prior_prob: float = 0.01,
    ) -> None:
        super().__init__()
        regression_loss(torch.zeros(1), torch.zeros(1), box_loss)  # validates the name early
        self.k = anchors.shared_per_cell()
        self.anchors, self.matcher, self.coder = anchors, matcher, coder
        self.num_classes, self.box_loss, self.neg_ratio = num_classes, box_loss, int(neg_ratio)
        self.branches = GridBranches(
            in_channels, self.k * (num_classes + 1), self.k * 4, cls_width, box_width, convs
        )
        # Background starts at probability 1 - prior_prob, the C classes share the rest.
        bias = math.log((1 - prior_prob) / prior_prob * max(num_classes, 1))
        for cls in self.branches.cls:
            nn.init.zeros_(cls[-1].bias)
            cls[-1].bias.data.view(self.k, num_classes + 1)[:, 0] = bias
        self._priors: dict[tuple, Tensor] = {}

    def priors(self, sizes: tuple[tuple[int, int], ...], device: torch.device) -> Tensor:
        key = (sizes, str(device))
        if key not in self._priors:
            self._priors[key] = torch.cat(self.anchors(list(sizes), device))
        return self._priors[key]

    def forward(self, feats: Sequence[Tensor], image_size: tuple[int, int]) -> HeadOutput:
        cls, box = [], []
        for c_head, b_head, f in zip(self.branches.cls, self.branches.box, feats):
            cls.append(flatten(c_head(f), self.k))
            box.append(flatten(b_head(f), self.k))
        priors = self.priors(feature_sizes(feats), feats[0].device)
        return HeadOutput(torch.cat(cls, 1), torch.cat(box, 1), priors, image_size)

    def boxes_and_scores(self, out: HeadOutput) -> tuple[Tensor, Tensor]:
        n, p, _ = out.box.shape
        anchors = out.priors.repeat(n, 1)
        boxes = self.coder.decode(out.box.reshape(n * p, 4), anchors).view(n, p, 4)
        return boxes, out.cls.softmax(-1)[..., 1:]

    def losses(self, out: HeadOutput, targets: Sequence[Detections]) -> dict[str, Tensor]:
        anchors = out.priors
        cls_terms, pos_deltas, pos_targets, num_pos = [], [], [], 0
        for logits, deltas, t in zip(out.cls, out.box, targets):
            t = t.to(anchors.device)
            matches = match_targets(self.matcher, anchors, t.boxes, t.iscrowd)
            positive, negative = matches >= 0, matches == -1
            labels = torch.zeros(len(anchors), dtype=torch.int64, device=anchors.device)
            labels[positive] = t.labels[matches[positive]]
            ce = F.cross_entropy(logits, labels, reduction="none")
            n_pos = int(positive.sum())
            neg = ce.detach().masked_fill(~negative, -1.0)
            n_neg = min(self.neg_ratio * max(n_pos, 1), int(negative.sum()))
            hard = neg.topk(n_neg).indices
            cls_terms.append(ce[positive].sum() + ce[hard].sum())
            pos_deltas.append(deltas[positive])
            pos_targets.append(
                self.coder.encode(anchors[positive], t.boxes[matches[positive]].float())
            )
            num_pos += n_pos
        cls = torch.stack(cls_terms).sum() / global_count(num_pos)  # the global batch's
        # (no branch on this slice's positives: every process reaches the same collectives)
        box = regression_loss(torch.cat(pos_deltas), torch.cat(pos_targets), self.box_loss)
        return {"cls": cls, "box": box}
