"""Class-aware NMS of a batch of images, the serial kernels side by side in the run's threads.

:func:`batched_nms_each` is ``[torchvision.ops.batched_nms(b, s, c, iou) for each image]``,
bit for bit: where torchvision runs one NMS per class (over 4,000 box coordinates on the CPU,
and not tracing) the same per-class kernels run, and their keep-masks are merged and sorted
as torchvision merges them; elsewhere torchvision's own call. Only the kernels themselves
(``torchvision::nms``: a serial loop that releases the GIL and starts no parallel region) go
to :func:`~regionlab.ops.threads.map_images`, their inputs cut in the caller. Measured on
Faster R-CNN's training step at 2 threads (8 images x 3 levels of up to 1,000 proposals):
0.221 -> 0.203 s. Any other tensor op in a worker made it slower than no threads at all
(0.29-0.30 s, even just cutting the inputs there; whole per-image functions the same).
With ``limit`` (the RPN's proposals per image) the kernels see only as many of each image's
best candidates as it takes: Mask R-CNN's proposal NMS at 320 px, 8 images, 2 threads, 32 ->
8.5 ms a step.

Imports only torch / torchvision (``ops`` room).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torchvision
from torch import Tensor
from torchvision.ops import batched_nms

from regionlab.ops.threads import map_images

# torchvision.ops.batched_nms's own threshold: above it (CPU), one NMS per class
PER_CLASS_ABOVE = 4000


def _kernel(boxes: Tensor, scores: Tensor, iou: float) -> Tensor:
    return torch.ops.torchvision.nms(boxes, scores, iou)


def batched_nms_each(boxes: Sequence[Tensor], scores: Sequence[Tensor], idxs: Sequence[Tensor],
                     iou: float, limit: int | None = None) -> list[Tensor]:  # fmt: skip
    """Per image ``i``: the indices NMS keeps of ``boxes[i] (K_i, 4)`` ``xyxy`` with
    ``scores[i] (K_i,)``, boxes of different ``idxs[i] (K_i,)`` never suppressing each other,
    in decreasing score order: ``torchvision.ops.batched_nms``'s result exactly.

    ``limit``: only the first ``limit`` of each image's result are wanted, and returned (RPN
    proposals: NMS kept about half of 2,600 candidates for the 300 used). Whether greedy NMS
    keeps a box depends only on the boxes of its class scored above it, so if an image's best
    ``m`` candidates keep ``limit`` boxes, those are the first ``limit`` the whole image
    keeps: the kernels run on the best ``2 limit``, grown until they keep ``limit`` or are all
    (a fraction of the work; the same result up to the order of exactly tied scores, which
    torch's unstable sort leaves open anyway)."""
    out: list[Tensor | None] = []
    take: dict[int, int] = {}  # image -> how many of its best candidates its kernels see
    for i, (b, s, c) in enumerate(zip(boxes, scores, idxs, strict=True)):
        per_class = (
            b.device.type == "cpu" and b.numel() > PER_CLASS_ABOVE and not torchvision._is_tracing()
        )
        out.append(None if per_class else batched_nms(b, s, c, iou)[:limit])
        if per_class:
            take[i] = len(s) if limit is None else min(len(s), 2 * limit)
    best = {i: scores[i].sort(descending=True, stable=True)[1] for i in take if limit is not None}
    todo = list(take)
    while todo:
        seen = {i: best[i][: take[i]].sort().values if i in best else None for i in todo}
        jobs = [(i, at) for i in todo for at in _classes(idxs[i], seen[i])]
        # the inputs cut here: any tensor op in a worker starts parallel regions beside ours
        ins = [(boxes[i][at], scores[i][at]) for i, at in jobs]
        kept = map_images(lambda b, s: _kernel(b, s, iou), *zip(*ins, strict=True)) if ins else []
        masks = {i: torch.zeros_like(scores[i], dtype=torch.bool) for i in todo}
        for (i, at), k in zip(jobs, kept, strict=True):
            masks[i][at[k]] = True
        again = []
        for i, mask in masks.items():
            keep = torch.where(mask)[0]
            if limit is not None and len(keep) < limit and take[i] < len(scores[i]):
                take[i] = _grown(take[i], len(keep), limit, len(scores[i]))
                again.append(i)
            else:
                out[i] = keep[scores[i][keep].sort(descending=True)[1]][:limit]
        todo = again
    return out  # type: ignore[return-value]


def _grown(take: int, kept: int, limit: int, n: int) -> int:
    """The next count of candidates: by the keep rate seen so far with a margin (one more round,
    mostly), at least doubled, and all of them past half (a crowd that keeps few)."""
    grown = max(2 * take, int(take * 1.25 * limit / max(kept, 1)) + 1)
    return n if grown > n // 2 else grown


def _classes(idxs: Tensor, among: Tensor | None) -> list[Tensor]:
    """The indices of each class (``idxs`` values) among ``among`` (all where ``None``), in
    index order: each class's kernel sees its boxes as in the whole image."""
    if among is None:
        return [torch.where(idxs == k)[0] for k in torch.unique(idxs)]
    c = idxs[among]
    return [among[c == k] for k in torch.unique(c)]
