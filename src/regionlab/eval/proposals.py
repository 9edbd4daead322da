"""How well region proposals cover the objects: recall at IoU thresholds and MABO, per top-N.

Inputs per image: proposals ``float (P, 4)`` in their ranked order and ground-truth boxes
``float (G, 4)``, both ``xyxy`` pixels (crowd regions already removed by the caller). Each
ground-truth box is scored by its best IoU with the first ``N`` proposals of its image (all of
them when the image has fewer, or for ``N = None``).

- recall@t: the fraction of ground-truth boxes, pooled over all images, whose best IoU is
  ``>= t``.
- ABO / MABO (Uijlings et al. 2013): the mean best IoU of a class's boxes is its average best
  overlap; the paper's MABO is the mean of that over classes. ``mabo`` here is the mean over all
  ground-truth boxes (the same for one class); with ``labels`` the per-class ABOs and their
  class mean, the paper's MABO, are reported too.

Images without ground truth add nothing to recall or MABO, only to the proposal counts.
Top-N keys are strings (``"100"``, ``"all"``), so the result goes to JSON as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchvision.ops import box_iou

__all__ = ["best_overlaps", "proposal_recall", "top_key"]


def top_key(top: int | None) -> str:
    return "all" if top is None else str(top)


def best_overlaps(proposals: Tensor, gt: Tensor, tops: Sequence[int | None]) -> Tensor:
    """``(len(tops), G)``: each ground-truth box's best IoU with the first N proposals."""
    out = torch.zeros((len(tops), len(gt)), dtype=torch.float64)
    if len(gt) == 0 or len(proposals) == 0:
        return out
    iou = box_iou(gt.double(), proposals.double())  # (G, P)
    # Running best over the ranked proposals: the best of the first N is column N - 1.
    running = iou.cummax(dim=1).values
    for i, top in enumerate(tops):
        n = len(proposals) if top is None else min(top, len(proposals))
        if n > 0:
            out[i] = running[:, n - 1]
    return out


def proposal_recall(
    proposals: Sequence[Tensor],
    gts: Sequence[Tensor],
    iou_thresholds: Sequence[float] = (0.5, 0.7),
    tops: Sequence[int | None] = (100, 300, 1000, 2000, None),
    labels: Sequence[Tensor] | None = None,
) -> dict:
    """Recall and MABO of ranked proposals, for each top-N.

    ``proposals[i]``: ``(P_i, 4)``, best first; ``gts[i]``: ``(G_i, 4)``; ``labels[i]``:
    optional ``int (G_i,)`` class of each ground-truth box. Returns::

        {"images": n, "images_with_gt": k, "gt_boxes": G,
         "mean_proposals": mean P_i,
         "mean_proposals_used": {"100": mean min(P_i, 100), ..., "all": ...},
         "recall": {"0.5": {"100": r, ..., "all": r}, "0.7": {...}},
         "mabo": {"100": m, ..., "all": m},            # mean over all ground-truth boxes
         # with labels:
         "abo_per_class": {"1": {"100": a, ...}, ...},
         "mabo_class_mean": {"100": m, ...}}             # the paper's MABO

    With no ground-truth box at all, recall and MABO are ``nan`` (undefined, not 0)."""
    if len(proposals) != len(gts):
        raise ValueError(f"{len(proposals)} proposal lists for {len(gts)} ground truths")
    if labels is not None and len(labels) != len(gts):
        raise ValueError(f"{len(labels)} label lists for {len(gts)} ground truths")
    tops = list(tops)
    best, classes = [], []
    for i, (props, gt) in enumerate(zip(proposals, gts)):
        if len(gt) == 0:
            continue
        best.append(best_overlaps(props, gt, tops))
        if labels is not None:
            if len(labels[i]) != len(gt):
                raise ValueError(f"image {i}: {len(labels[i])} labels for {len(gt)} boxes")
            classes.append(torch.as_tensor(labels[i]).long())
    overlaps = torch.cat(best, dim=1) if best else torch.zeros((len(tops), 0), dtype=torch.float64)
    n_gt = overlaps.shape[1]
    counts = torch.tensor([float(len(p)) for p in proposals], dtype=torch.float64)

    def mean(x: Tensor) -> float:
        return float(x.mean()) if x.numel() else float("nan")

    result = {
        "images": len(gts),
        "images_with_gt": len(best),
        "gt_boxes": n_gt,
        "mean_proposals": mean(counts),
        "mean_proposals_used": {
            top_key(t): mean(counts if t is None else counts.clamp(max=t)) for t in tops
        },
        "recall": {
            str(thr): {top_key(t): mean((overlaps[j] >= thr).double()) for j, t in enumerate(tops)}
            for thr in iou_thresholds
        },
        "mabo": {top_key(t): mean(overlaps[j]) for j, t in enumerate(tops)},
    }
    if labels is not None:
        cls = torch.cat(classes) if classes else torch.zeros(0, dtype=torch.long)
        per_class = {
            str(c): {top_key(t): mean(overlaps[j, cls == c]) for j, t in enumerate(tops)}
            for c in sorted(set(cls.tolist()))
        }
        result["abo_per_class"] = per_class
        result["mabo_class_mean"] = {
            top_key(t): mean(torch.tensor([a[top_key(t)] for a in per_class.values()]))
            for t in tops
        }
    return result
