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


def batched_nms_each(boxes: Sequence[Tensor], scores: Sequence[Tensor],
                     idxs: Sequence[Tensor], iou: float) -> list[Tensor]:  # fmt: skip
    """Per image ``i``: the indices NMS keeps of ``boxes[i] (K_i, 4)`` ``xyxy`` with
    ``scores[i] (K_i,)``, boxes of different ``idxs[i] (K_i,)`` never suppressing each other,
    in decreasing score order: ``torchvision.ops.batched_nms``'s result exactly."""
    out: list[Tensor | None] = []
    jobs: list[tuple[int, Tensor]] = []  # (image, the indices of one class in it)
    for i, (b, s, c) in enumerate(zip(boxes, scores, idxs, strict=True)):
        per_class = (
            b.device.type == "cpu" and b.numel() > PER_CLASS_ABOVE and not torchvision._is_tracing()
        )
        out.append(None if per_class else batched_nms(b, s, c, iou))
        if per_class:
            jobs += [(i, torch.where(c == k)[0]) for k in torch.unique(c)]
    # the inputs cut here: any tensor op in a worker starts parallel regions beside ours
    cut = [(boxes[i][at], scores[i][at]) for i, at in jobs]
    kept = map_images(lambda b, s: _kernel(b, s, iou), *zip(*cut, strict=True)) if cut else []
    masks = {i: torch.zeros_like(scores[i], dtype=torch.bool) for i, _ in jobs}
    for (i, at), k in zip(jobs, kept, strict=True):
        masks[i][at[k]] = True
    for i, mask in masks.items():
        keep = torch.where(mask)[0]
        out[i] = keep[scores[i][keep].sort(descending=True)[1]]
    return out  # type: ignore[return-value]
