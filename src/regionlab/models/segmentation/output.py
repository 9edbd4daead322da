"""What every segmentation model returns, and the per-pixel loss they share."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from regionlab.data.sample import IGNORE_INDEX
from regionlab.ops.global_batch import global_count, global_loss, global_sums


@dataclass
class SegmentationOutput:
    """``logits``: ``float (N, C, H, W)`` at input resolution (``None`` where a model skips it in
    training, e.g. the patch classifier); ``loss``: scalar when targets were given, else ``None``."""

    logits: torch.Tensor | None
    loss: torch.Tensor | None = None


def pixel_cross_entropy(
    logits: torch.Tensor,
    target: torch.Tensor,
    class_weights: torch.Tensor | None = None,
    ignore_index: int = IGNORE_INDEX,
) -> torch.Tensor:
    """Cross-entropy on every pixel, averaged over labelled pixels of the whole (global) batch.

    ``logits``: ``(N, C, H, W)`` (or ``(P, C)`` for sampled pixels); ``target``: ``(N, H, W)``
    (or ``(P,)``) class indices with ``ignore_index`` for unlabelled pixels. With class weights
    the average is the weighted one (each pixel counts its class weight). No labelled pixel: a
    zero loss that still depends on the graph, not NaN.
    """
    per_pixel = F.cross_entropy(
        logits, target, weight=class_weights, ignore_index=ignore_index, reduction="none"
    )
    labelled = target != ignore_index
    count = labelled.sum() if class_weights is None else class_weights[target[labelled]].sum()
    return per_pixel.sum() / global_count(count, minimum=1e-12)


def soft_dice_loss(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int = IGNORE_INDEX, eps: float = 1.0
) -> torch.Tensor:
    """``1 - mean_c dice_c`` on softmax probabilities over all labelled pixels of the (global)
    batch.

    Every class counts equally, like mIoU, so rare classes are not drowned by background.
    ``logits``: ``(N, C, H, W)`` or ``(P, C)``; ``target`` as for :func:`pixel_cross_entropy`.
    """
    c = logits.shape[1]
    probs = logits.softmax(1).movedim(1, -1).reshape(-1, c)
    t = target.reshape(-1)
    keep = t != ignore_index
    probs, t = probs[keep], t[keep]
    onehot = F.one_hot(t, c).to(probs.dtype)
    inter, p_sum, t_sum = global_sums((probs * onehot).sum(0), probs.sum(0), onehot.sum(0))
    return global_loss(1 - ((2 * inter + eps) / (p_sum + t_sum + eps)).mean())


def segmentation_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    class_weights: torch.Tensor | None = None,
    dice: float = 0.0,
) -> torch.Tensor:
    """Pixel cross-entropy, plus ``dice`` times the soft Dice loss when ``dice > 0`` (``0`` on
    a batch without labelled pixels)."""
    loss = pixel_cross_entropy(logits, target, class_weights)
    if dice > 0:
        loss = loss + dice * soft_dice_loss(logits, target)
    return loss
