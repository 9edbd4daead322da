"""Box coding and the few box helpers torchvision does not have.

All boxes are ``xyxy`` (``x1, y1, x2, y2``) in pixels unless a name says otherwise; a box's width
is ``x2 - x1`` (no ``+ 1``). For IoU matrices, NMS, format conversion, clipping and small-box
removal use :mod:`torchvision.ops` directly (``box_iou``, ``nms``, ``batched_nms``,
``box_convert``, ``clip_boxes_to_image``, ``remove_small_boxes``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torchvision.ops import box_area, box_convert

__all__ = ["BoxCoder", "elementwise_iou", "normalize_boxes", "denormalize_boxes"]


class BoxCoder:
    """The R-CNN / Faster R-CNN box parametrisation (Girshick et al.).

    For a reference box (proposal or anchor) with centre ``(rcx, rcy)`` and size ``(rw, rh)`` and
    a target with ``(tcx, tcy, tw, th)``::

        dx = wx * (tcx - rcx) / rw        dw = ww * log(tw / rw)
        dy = wy * (tcy - rcy) / rh        dh = wh * log(th / rh)

    ``weights = (wx, wy, ww, wh)`` scale the deltas to roughly unit variance (``(10, 10, 5, 5)``
    for Fast/Faster R-CNN's second stage, ``(1, 1, 1, 1)`` for the RPN). When decoding, ``dw`` and
    ``dh`` (after dividing by their weights) are clamped at ``clip`` before ``exp`` so a wild
    prediction cannot overflow; the default ``log(1000 / 16)`` caps growth at 62.5x.

    Reference boxes must have positive width and height; targets must too for ``encode`` (a
    zero-size target gives ``-inf`` in ``dw``/``dh``). Computation is in the dtype of the input.
    """

    def __init__(
        self,
        weights: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0),
        clip: float = math.log(1000.0 / 16),
    ) -> None:
        if len(weights) != 4:
            raise ValueError(f"weights must be (wx, wy, ww, wh), got {weights!r}")
        self.weights = tuple(float(w) for w in weights)
        self.clip = float(clip)

    def encode(self, reference: Tensor, target: Tensor) -> Tensor:
        """Deltas that move each ``reference`` box onto its matched ``target`` box.

        Args:
            reference: ``(N, 4)`` ``xyxy`` boxes with positive width and height.
            target: ``(N, 4)`` ``xyxy`` boxes, row ``i`` matched to ``reference[i]``.

        Returns:
            ``(N, 4)`` deltas ``(dx, dy, dw, dh)``, dtype of the (promoted) inputs.
        """
        if reference.shape != target.shape or reference.shape[-1:] != (4,):
            raise ValueError(
                f"reference and target must both be (N, 4), got {tuple(reference.shape)} "
                f"and {tuple(target.shape)}"
            )
        dtype = torch.promote_types(reference.dtype, target.dtype)
        rcx, rcy, rw, rh = box_convert(reference.to(dtype), "xyxy", "cxcywh").unbind(-1)
        tcx, tcy, tw, th = box_convert(target.to(dtype), "xyxy", "cxcywh").unbind(-1)
        wx, wy, ww, wh = self.weights
        return torch.stack(
            (
                wx * (tcx - rcx) / rw,
                wy * (tcy - rcy) / rh,
                ww * torch.log(tw / rw),
                wh * torch.log(th / rh),
            ),
            dim=-1,
        )

    def decode(self, deltas: Tensor, reference: Tensor) -> Tensor:
        """Apply ``deltas`` to ``reference`` boxes (the inverse of :meth:`encode`).

        Args:
            deltas: ``(N, 4)``, or ``(N, 4 * C)`` for class-specific regression (columns
                ``4c .. 4c + 3`` are the deltas for class ``c``).
            reference: ``(N, 4)`` ``xyxy`` boxes with positive width and height.

        Returns:
            ``xyxy`` boxes of the same shape as ``deltas``, in the dtype of ``deltas``.
        """
        if deltas.dim() != 2 or deltas.shape[1] % 4 or deltas.shape[1] == 0:
            raise ValueError(f"deltas must be (N, 4 * C), got {tuple(deltas.shape)}")
        if reference.dim() != 2 or reference.shape != (deltas.shape[0], 4):
            raise ValueError(
                f"reference must be (N, 4) with N = {deltas.shape[0]}, got {tuple(reference.shape)}"
            )
        n, c4 = deltas.shape
        d = deltas.reshape(n, c4 // 4, 4)
        rcx, rcy, rw, rh = box_convert(reference.to(deltas.dtype), "xyxy", "cxcywh")[
            :, None, :
        ].unbind(-1)
        wx, wy, ww, wh = self.weights
        dx, dy = d[..., 0] / wx, d[..., 1] / wy
        dw = (d[..., 2] / ww).clamp(max=self.clip)
        dh = (d[..., 3] / wh).clamp(max=self.clip)
        cxcywh = torch.stack(
            (rcx + dx * rw, rcy + dy * rh, rw * torch.exp(dw), rh * torch.exp(dh)), dim=-1
        )
        return box_convert(cxcywh, "cxcywh", "xyxy").reshape(n, c4)


def elementwise_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU of matched pairs: ``out[i] = IoU(a[i], b[i])``, the diagonal of ``box_iou(a, b)``.

    Costs ``O(N)`` where the full matrix costs ``O(N^2)``.

    Args:
        a, b: ``(N, 4)`` ``xyxy`` boxes (``x1 <= x2``, ``y1 <= y2``).

    Returns:
        ``(N,)`` IoU in ``[0, 1]``; ``0`` for a pair whose union is empty (two zero-area boxes),
        where ``torchvision.ops.box_iou`` gives ``nan``.
    """
    if a.shape != b.shape or a.shape[-1:] != (4,) or a.dim() != 2:
        raise ValueError(f"a and b must both be (N, 4), got {tuple(a.shape)} and {tuple(b.shape)}")
    lt = torch.maximum(a[:, :2], b[:, :2])
    rb = torch.minimum(a[:, 2:], b[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[:, 0] * wh[:, 1]
    union = box_area(a) + box_area(b) - inter
    positive = union > 0
    return torch.where(positive, inter / torch.where(positive, union, 1), 0)


def normalize_boxes(boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """``xyxy`` pixel boxes ``(..., 4)`` -> ``cxcywh`` as fractions of the image ``size = (H, W)``.

    Boxes inside the image map into ``[0, 1]``.
    """
    h, w = size
    scale = boxes.new_tensor([w, h, w, h])
    return box_convert(boxes, "xyxy", "cxcywh") / scale


def denormalize_boxes(boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """Inverse of :func:`normalize_boxes`: ``cxcywh`` fractions ``(..., 4)`` -> ``xyxy`` pixels."""
    h, w = size
    scale = boxes.new_tensor([w, h, w, h])
    return box_convert(boxes * scale, "cxcywh", "xyxy")
