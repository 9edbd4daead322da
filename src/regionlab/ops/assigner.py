"""Task-aligned assignment of anchor points to ground truths (TOOD, Feng et al., ICCV 2021; the
assigner of YOLOv8 and later).

An anchor-free detector predicts, at every anchor point (a feature-map cell centre), class
scores and a box. Which points should learn which object? IoU with a fixed anchor box is not
available, and "every point inside the box" gives many poor positives near the border. TAL
lets the *current predictions* decide, through the alignment of classification and
localisation of each (ground truth ``g``, point ``a``) pair::

    t[g, a] = s[g, a] ** alpha * IoU(gt_g, pred_a) ** beta

where ``s`` is the predicted probability of ``g``'s class at ``a``. Per image:

1. **candidates**: points strictly inside the ground-truth box, after each side shorter than
   ``min_size`` is enlarged to ``min_size`` about the box centre (so that a small object still
   contains a point of the finest level; only the candidate test uses the enlarged box);
2. **top-k**: the ``topk`` candidates with the highest ``t`` become positives of ``g`` (all
   candidates if fewer);
3. **one ground truth per point**: a point positive for several ground truths keeps the one
   whose box it overlaps most (highest IoU);
4. **soft targets**: positive ``a`` of ``g`` gets the target score
   ``t[g, a] * max_a' IoU[g, a'] / max_a' t[g, a']`` (maxima over ``g``'s positives): the best
   aligned point is asked for the best IoU reached, the others proportionally less. The class
   target is this score (IoU-aware classification) and the box loss is weighted by it.

Crowd ground truths (``Detections.iscrowd``) never create positives, and a point whose centre
lies inside a crowd box and is not positive for a real object is :data:`IGNORE` (neither object
nor background), the counterpart of :class:`~regionlab.ops.matcher.Matcher`'s crowd rule.

``matches`` use the matcher's convention: a ground-truth index (into the image's full target
list, crowds included) ``>= 0``, :data:`~regionlab.ops.matcher.BACKGROUND` or
:data:`~regionlab.ops.matcher.IGNORE`.

Imports only torch/torchvision (``ops`` room).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torchvision.ops import box_iou

from regionlab.ops.detections import Detections
from regionlab.ops.matcher import BACKGROUND, IGNORE

__all__ = ["Assignment", "TaskAlignedAssigner", "points_in_boxes"]


@dataclass
class Assignment:
    """Targets of ``A`` anchor points (or ``(B, A)`` for a batch, see
    :meth:`TaskAlignedAssigner.batch`).

    - ``matches``: ``int64 (A,)`` ground-truth index, ``BACKGROUND`` (-1) or ``IGNORE`` (-2);
    - ``labels``: ``int64 (A,)`` the matched ground truth's label (``1 .. C``), 0 elsewhere;
    - ``boxes``: ``float (A, 4)`` ``xyxy`` the matched ground truth's box, 0 elsewhere;
    - ``scores``: ``float (A,)`` soft target in ``[0, 1]`` for positives, 0 elsewhere.
    """

    matches: Tensor
    labels: Tensor
    boxes: Tensor
    scores: Tensor

    @property
    def positive(self) -> Tensor:
        return self.matches >= 0

    @property
    def ignore(self) -> Tensor:
        return self.matches == IGNORE


def points_in_boxes(points: Tensor, boxes: Tensor, eps: float = 1e-9) -> Tensor:
    """``bool (G, A)``: point ``a`` (``(A, 2)`` ``(x, y)``) lies strictly inside box ``g``
    (``(G, 4)`` ``xyxy``), by more than ``eps`` on every side."""
    x, y = points[None, :, 0], points[None, :, 1]
    x1, y1, x2, y2 = (boxes[:, i, None] for i in range(4))
    margin = torch.stack((x - x1, y - y1, x2 - x, y2 - y)).amin(0)
    return margin > eps


def _enlarge(boxes: Tensor, min_size: float) -> Tensor:
    """Boxes with each side shorter than ``min_size`` grown to ``min_size`` about the centre."""
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = ((boxes[:, 2:] - boxes[:, :2]).clamp(min=min_size)) / 2
    return torch.cat((centre - half, centre + half), dim=1)


class TaskAlignedAssigner:
    """Task-aligned assignment (see the module docstring).

    ``topk``: positives per ground truth; ``alpha``, ``beta``: exponents of the score and the
    IoU in the alignment metric (YOLOv8's ``0.5`` and ``6``: localisation quality dominates);
    ``min_size``: in pixels, smaller box sides are enlarged to it for the candidate test
    (YOLOv8 uses the second stride, 16 px for strides 8/16/32).
    """

    def __init__(
        self,
        topk: int = 10,
        alpha: float = 0.5,
        beta: float = 6.0,
        min_size: float = 16.0,
        eps: float = 1e-9,
    ) -> None:
        if topk < 1:
            raise ValueError(f"topk must be >= 1, got {topk}")
        if min_size < 0:
            raise ValueError(f"min_size must be >= 0, got {min_size}")
        self.topk, self.alpha, self.beta = int(topk), float(alpha), float(beta)
        self.min_size, self.eps = float(min_size), float(eps)

    @torch.no_grad()
    def __call__(
        self, points: Tensor, pred_scores: Tensor, pred_boxes: Tensor, targets: Detections
    ) -> Assignment:
        """Assign the ``A`` points of one image.

        Args:
            points: ``(A, 2)`` anchor point ``(x, y)`` in pixels.
            pred_scores: ``(A, C)`` predicted probabilities (after the sigmoid); column
                ``c - 1`` is class ``c``.
            pred_boxes: ``(A, 4)`` predicted ``xyxy`` boxes in pixels.
            targets: the image's ground truths (labels in ``1 .. C``, optional ``iscrowd``).

        Returns:
            An :class:`Assignment` of ``(A,)`` fields on ``points``' device.
        """
        a = points.shape[0]
        if pred_scores.dim() != 2 or pred_scores.shape[0] != a:
            raise ValueError(f"pred_scores must be ({a}, C), got {tuple(pred_scores.shape)}")
        if pred_boxes.shape != (a, 4):
            raise ValueError(f"pred_boxes must be ({a}, 4), got {tuple(pred_boxes.shape)}")
        device, dtype = points.device, pred_boxes.dtype
        matches = torch.full((a,), BACKGROUND, dtype=torch.int64, device=device)
        scores = torch.zeros(a, dtype=dtype, device=device)
        crowd = (
            targets.iscrowd.to(device)
            if targets.iscrowd is not None
            else torch.zeros(len(targets), dtype=torch.bool, device=device)
        )
        real = (~crowd).nonzero().squeeze(1)
        if len(real):
            gt_boxes = targets.boxes[real].to(device=device, dtype=dtype)
            gt_labels = targets.labels[real].to(device)
            if gt_labels.min() < 1 or gt_labels.max() > pred_scores.shape[1]:
                raise ValueError(
                    f"target labels must be in 1..{pred_scores.shape[1]}, got "
                    f"{gt_labels.min().item()}..{gt_labels.max().item()}"
                )
            candidate = points_in_boxes(points, _enlarge(gt_boxes, self.min_size), self.eps)
            iou = box_iou(gt_boxes, pred_boxes).nan_to_num(0.0).clamp(min=0)  # (G, A)
            s = pred_scores[:, gt_labels - 1].T.to(dtype)  # (G, A)
            align = s.clamp(min=0).pow(self.alpha) * iou.pow(self.beta) * candidate
            # Top-k among candidates only (non-candidates rank below every candidate).
            ranked = torch.where(candidate, align, -1.0)
            top = ranked.topk(min(self.topk, a), dim=1).indices
            chosen = torch.zeros_like(candidate).scatter_(1, top, True) & candidate
            # One ground truth per point: the one it overlaps most.
            best_gt = torch.where(chosen, iou, -1.0).argmax(0)  # (A,)
            positive = chosen.any(0)
            own = chosen & (torch.arange(len(real), device=device)[:, None] == best_gt[None])
            align, iou = align * own, iou * own
            norm = iou.amax(1, keepdim=True) / (align.amax(1, keepdim=True) + self.eps)
            scores = (align * norm).amax(0)
            matches = torch.where(positive, real[best_gt], matches)
        if crowd.any():
            in_crowd = points_in_boxes(points, targets.boxes[crowd].to(device, dtype)).any(0)
            matches[(matches == BACKGROUND) & in_crowd] = IGNORE
        positive = matches >= 0
        index = matches.clamp(min=0)
        labels = torch.zeros(a, dtype=torch.int64, device=device)
        boxes = torch.zeros((a, 4), dtype=dtype, device=device)
        if len(targets):
            labels = torch.where(positive, targets.labels.to(device)[index], labels)
            boxes = torch.where(positive[:, None], targets.boxes.to(device, dtype)[index], boxes)
        return Assignment(matches, labels, boxes, scores * positive)

    def batch(
        self,
        points: Tensor,
        pred_scores: Tensor,
        pred_boxes: Tensor,
        targets: Sequence[Detections],
    ) -> Assignment:
        """Assign a batch: ``points (A, 2)`` shared, ``pred_scores (B, A, C)``, ``pred_boxes
        (B, A, 4)``, one :class:`Detections` per image; fields stacked to ``(B, A, ...)``."""
        if len(targets) != pred_scores.shape[0]:
            raise ValueError(f"{pred_scores.shape[0]} images but {len(targets)} targets")
        parts = [self(points, s, b, t) for s, b, t in zip(pred_scores, pred_boxes, targets)]
        return Assignment(
            *(torch.stack([getattr(p, f) for p in parts]) for f in Assignment.__dataclass_fields__)
        )
