"""Image-sentence retrieval (recall at K, median rank, both directions, next to chance) and
word-region alignment accuracy.

``scores (K, L)``: image ``k`` against sentence ``l`` (higher is better); ``owner (L,)``: the
image each sentence describes (an image may own several, COCO has five).

- image -> sentence (``i2t``): rank the ``L`` sentences for each image; the image's rank is that
  of its *best-ranked* own sentence (1 = top), as Karpathy & Fei-Fei and the COCO retrieval
  papers count it;
- sentence -> image (``t2i``): rank the ``K`` images for each sentence; the rank of its image.

``R@n`` is the fraction of queries ranked ``<= n``; ``med_r`` the median rank
(``torch.median``: the lower middle rank for an even count). Ties are broken against the query: an equal-scoring wrong item is
ranked ahead, so a constant score gets chance-level or worse, never a perfect recall.

Chance: a random ranking, computed exactly: ``t2i`` ``R@n = n / K``; ``i2t`` with ``m`` own
sentences among ``L`` ``R@n = 1 - C(L - m, n) / C(L, n)``, averaged over images.
"""

from __future__ import annotations

from math import comb

import torch
from torch import Tensor

KS = (1, 5, 10)


def _ranks_i2t(scores: Tensor, owner: Tensor) -> Tensor:
    own = owner[None, :] == torch.arange(len(scores), device=scores.device)[:, None]  # (K, L)
    best_own = scores.masked_fill(~own, float("-inf")).amax(1, keepdim=True)
    # 1 + the number of other sentences scoring at least as high as the best own one.
    return 1 + ((scores >= best_own) & ~own).sum(1)


def _ranks_t2i(scores: Tensor, owner: Tensor) -> Tensor:
    cols = torch.arange(scores.shape[1], device=scores.device)
    true = scores[owner, cols]  # (L,)
    wrong = torch.ones_like(scores, dtype=torch.bool)
    wrong[owner, cols] = False
    return 1 + ((scores >= true[None, :]) & wrong).sum(0)


def retrieval_metrics(scores: Tensor, owner: Tensor, ks: tuple[int, ...] = KS) -> dict:
    """``{"i2t_R@1": .., "i2t_med_r": .., "t2i_R@1": .., ..., "mean_R": mean of all R@n,
    "chance_i2t_R@1": .., "chance_t2i_R@1": .., "chance_med_r_t2i": ..}``; ranks as floats."""
    scores, owner = scores.double().cpu(), owner.long().cpu()
    k_img, n_sent = scores.shape
    if owner.shape != (n_sent,):
        raise ValueError(f"owner must be ({n_sent},), got {tuple(owner.shape)}")
    counts = torch.bincount(owner, minlength=k_img)
    if bool((counts == 0).any()):
        raise ValueError("every image needs at least one sentence")
    out: dict[str, float] = {}
    recalls = []
    for name, ranks in (("i2t", _ranks_i2t(scores, owner)), ("t2i", _ranks_t2i(scores, owner))):
        for k in ks:
            out[f"{name}_R@{k}"] = float((ranks <= k).double().mean())
            recalls.append(out[f"{name}_R@{k}"])
        out[f"{name}_med_r"] = float(ranks.double().median())
    out["mean_R"] = sum(recalls) / len(recalls)
    for k in ks:
        kk = min(k, n_sent)
        per_image = [1 - comb(n_sent - int(m), kk) / comb(n_sent, kk) for m in counts]
        out[f"chance_i2t_R@{k}"] = sum(per_image) / k_img
        out[f"chance_t2i_R@{k}"] = min(1.0, k / k_img)
    out["chance_t2i_med_r"] = (k_img + 1) / 2
    return out


def alignment_hits(word_boxes: Tensor, targets: list[Tensor], iou: float = 0.5) -> Tensor:
    """``word_boxes (W, 4)``: the region each word aligned to; ``targets``: for each word the
    boxes ``(M_w, 4)`` of the object(s) it names (all ``xyxy``) -> ``(W,)`` bool, True where the
    word's region overlaps one of them with IoU ``>= iou``."""
    from torchvision.ops import box_iou

    hits = [
        bool(len(t)) and float(box_iou(b[None].float(), t.float()).max()) >= iou
        for b, t in zip(word_boxes, targets)
    ]
    return torch.tensor(hits, dtype=torch.bool)
