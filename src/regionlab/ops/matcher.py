"""Assign each prediction (anchor, proposal, window) to a ground truth by IoU, or to background.

The result of matching ``P`` predictions against ``G`` ground truths is one ``int64 (P,)``
tensor: a ground-truth index ``>= 0``, :data:`BACKGROUND` (``-1``) or :data:`IGNORE` (``-2``,
neither trained as object nor as background). Every detector of the library uses it: the RPN
and single-shot heads on anchors, the R-CNN family on proposals, the sliding window on windows.

Crowd regions (COCO ``iscrowd``, VOC "difficult") are never matched, but a prediction that
overlaps one should not be taught "this is background" either; see :class:`Matcher` and
:func:`ignore_crowd_overlap`.

Compute IoU with :func:`torchvision.ops.box_iou` (boxes ``xyxy`` in pixels);
:func:`match_targets` does it all for one image's predictions and its targets, with the one
crowd policy every detector of the library trains with.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import box_area, box_iou

__all__ = ["BACKGROUND", "IGNORE", "Matcher", "ignore_crowd_overlap", "match_targets"]

BACKGROUND = -1
IGNORE = -2


class Matcher:
    """Max-IoU matching with a foreground and a background threshold.

    For each prediction ``p`` with best IoU ``m = max_g iou[g, p]`` (reached at ground truth
    ``g*``, the lowest index on ties)::

        m >= fg_iou            ->  g*
        m <  bg_iou            ->  BACKGROUND
        bg_iou <= m < fg_iou   ->  IGNORE

    ``bg_iou == fg_iou`` leaves no ignore band. Typical values: RPN ``(0.7, 0.3)`` with
    ``allow_low_quality=True``; Fast/Faster R-CNN second stage ``(0.5, 0.5)``; R-CNN's SVMs
    ``(0.5, 0.3)``.

    ``allow_low_quality`` (Faster R-CNN's RPN rule): for each ground truth, every prediction
    reaching that ground truth's own highest IoU (all ties) becomes foreground even below
    ``fg_iou``, so that no object is left without an anchor. As in Faster R-CNN (and
    torchvision) such a prediction is matched to *its own* best ground truth ``g*``, which is that
    ground truth unless another one overlaps the prediction at least as much. A ground truth whose
    highest IoU is ``0`` (it touches no prediction) adds nothing: otherwise every
    non-overlapping prediction would tie and become foreground.

    Crowds (``crowd`` given to :meth:`__call__`): matching uses only the non-crowd ground truths,
    so a crowd is never a match (nor a low-quality one) and returned indices always point at
    non-crowd rows of the original ``G``. A prediction that would be :data:`BACKGROUND` but
    whose best IoU with a crowd is ``>= bg_iou`` -- it would not be background if the crowd were
    an ordinary object -- is :data:`IGNORE` instead. Foreground matches to real objects lying in
    a crowd are kept. This is the training-time counterpart of COCO evaluation, which ignores
    detections matched to a crowd; for the "mostly inside a crowd box" rule see
    :func:`ignore_crowd_overlap`.
    """

    def __init__(self, fg_iou: float, bg_iou: float, allow_low_quality: bool = False) -> None:
        if bg_iou > fg_iou:
            raise ValueError(f"bg_iou ({bg_iou}) must not exceed fg_iou ({fg_iou})")
        self.fg_iou = float(fg_iou)
        self.bg_iou = float(bg_iou)
        self.allow_low_quality = bool(allow_low_quality)

    def __call__(self, iou: Tensor, crowd: Tensor | None = None) -> Tensor:
        """Match predictions to ground truths.

        Args:
            iou: ``(G, P)`` IoU of each ground truth (rows) with each prediction (columns), e.g.
                ``box_iou(gt_boxes, anchors)``; must contain no ``nan``.
            crowd: optional ``bool (G,)``, ``True`` for crowd ground truths.

        Returns:
            ``int64 (P,)`` on ``iou``'s device: a ground-truth row index, :data:`BACKGROUND` or
            :data:`IGNORE`. With ``G == 0`` (or only crowds, none reaching
            ``bg_iou``) all :data:`BACKGROUND`.
        """
        if iou.dim() != 2:
            raise ValueError(f"iou must be (G, P), got {tuple(iou.shape)}")
        if crowd is None:
            return self._match(iou)
        if crowd.shape != iou.shape[:1] or crowd.dtype != torch.bool:
            raise ValueError(
                f"crowd must be bool ({iou.shape[0]},), got {crowd.dtype} {tuple(crowd.shape)}"
            )
        if not bool(crowd.any()):  # the usual case: no copy of the IoU rows, no remapping
            return self._match(iou)
        real = (~crowd).nonzero().squeeze(1)
        matches = self._match(iou[real])
        # Map indices into the non-crowd rows back to rows of the full ground-truth list.
        foreground = matches >= 0
        matches[foreground] = real[matches[foreground]]
        crowd_best = iou[crowd].max(dim=0).values
        matches[(matches == BACKGROUND) & (crowd_best >= self.bg_iou)] = IGNORE
        return matches

    def _match(self, iou: Tensor) -> Tensor:
        g, p = iou.shape
        if g == 0:
            return torch.full((p,), BACKGROUND, dtype=torch.int64, device=iou.device)
        best, best_gt = iou.max(dim=0)
        below = torch.where(best < self.bg_iou, BACKGROUND, IGNORE)
        matches = torch.where(best >= self.fg_iou, best_gt, below)
        if self.allow_low_quality and p > 0:
            highest = iou.max(dim=1, keepdim=True).values  # (G, 1)
            low_quality = ((iou == highest) & (highest > 0)).any(dim=0)
            matches[low_quality] = best_gt[low_quality]
        return matches


def ignore_crowd_overlap(
    matches: Tensor, boxes: Tensor, crowd_boxes: Tensor, threshold: float = 0.7
) -> Tensor:
    """Turn :data:`BACKGROUND` predictions lying mostly inside a crowd box into :data:`IGNORE`.

    "Mostly inside" is intersection over the *prediction's* area (IoA) ``> threshold``: a small
    anchor in the middle of a large crowd box has a tiny IoU with it but is surely not
    background. Detectron uses this rule with ``threshold = 0.7``. Foreground and ignored
    predictions are unchanged.

    Args:
        matches: ``int64 (P,)`` from :class:`Matcher`.
        boxes: ``(P, 4)`` ``xyxy`` predictions; a zero-area prediction has IoA ``0``.
        crowd_boxes: ``(C, 4)`` ``xyxy`` crowd regions (e.g. ``targets.crowd().boxes``); may be
            empty.

    Returns:
        A new ``int64 (P,)`` tensor.
    """
    if boxes.dim() != 2 or boxes.shape != (matches.shape[0], 4):
        raise ValueError(f"boxes must be ({matches.shape[0]}, 4), got {tuple(boxes.shape)}")
    if crowd_boxes.dim() != 2 or crowd_boxes.shape[1] != 4:
        raise ValueError(f"crowd_boxes must be (C, 4), got {tuple(crowd_boxes.shape)}")
    matches = matches.clone()
    if crowd_boxes.shape[0] == 0:
        return matches
    # torchvision has no intersection-over-area, so the (P, C) intersection is written out.
    lt = torch.maximum(boxes[:, None, :2], crowd_boxes[None, :, :2])
    rb = torch.minimum(boxes[:, None, 2:], crowd_boxes[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=-1)
    area = box_area(boxes)[:, None]
    positive = area > 0
    ioa = torch.where(positive, inter / torch.where(positive, area, 1), 0)
    matches[(matches == BACKGROUND) & (ioa.max(dim=1).values > threshold)] = IGNORE
    return matches


def match_targets(matcher: Matcher, boxes: Tensor, target_boxes: Tensor,
                  crowd: Tensor | None = None) -> Tensor:  # fmt: skip
    """Match one image's ``(P, 4)`` predictions (anchors, proposals, windows) to its
    ``(G, 4)`` target boxes: ``int64 (P,)`` as :class:`Matcher` returns.

    The crowd policy, as COCO evaluation defines a crowd match: a crowd region is never a
    match, and since COCO measures a detection's overlap with a crowd as intersection over the
    *detection's* area, a prediction that would be background but lies more than the matcher's
    ``bg_iou`` inside a crowd box is :data:`IGNORE` (neither object nor background): COCO would
    not count it as a false positive, so training should not call it one either.
    """
    if len(target_boxes) == 0:
        return torch.full((len(boxes),), BACKGROUND, dtype=torch.int64, device=boxes.device)
    if crowd is not None:
        crowd = crowd.to(device=boxes.device, dtype=torch.bool)
    matches = matcher(box_iou(target_boxes, boxes), crowd)
    if crowd is not None and bool(crowd.any()):
        matches = ignore_crowd_overlap(matches, boxes, target_boxes[crowd], matcher.bg_iou)
    return matches
