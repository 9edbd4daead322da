"""Instance masks between an image and its regions (Mask R-CNN, He et al. 2017).

- :func:`mask_targets`: each training RoI's ground-truth mask, cut out of the full-image mask
  of the object it was matched to and resampled to ``m x m`` by RoIAlign (``aligned=True``: the
  same bin geometry as the features', so a target pixel sits where its feature does; 2 x 2
  samples per bin, a smoother target than the features' single sample), then thresholded at
  0.5 as the paper's "binary mask" targets.
- :func:`paste_masks`: the inverse at test time: an ``m x m`` mask of probabilities inside a
  box, resampled bilinearly to the box's pixels and placed into an ``H x W`` image, zero outside
  the box.
- :func:`maskness`: how sure a predicted mask is of the pixels it keeps (SOLO's "maskness",
  Wang et al. 2020), to rank a detection by its mask as well as by its box.

A square that fills its box survives ``mask_targets -> paste_masks`` to within one pixel at
its border (test). Boxes are ``xyxy`` pixels, masks ``(N, H, W)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import roi_align


def mask_targets(masks: Tensor | Sequence[Tensor], rois: Tensor | Sequence[Tensor],
                 matched: Tensor | Sequence[Tensor], size: int) -> Tensor:  # fmt: skip
    """``masks (M, H, W)`` bool (one image's objects), ``rois (R, 4)``, ``matched (R,)``: the
    object index of each RoI -> ``(R, size, size)`` float in ``{0, 1}``.

    A batch: one of each per image (the masks all ``H x W``), the images' RoIs in order. One
    RoIAlign reads every image's objects, each converted to float once (not once per RoI: a
    full-image copy per RoI was most of the memory traffic of the targets); every RoI still
    reads only its own object, so the targets are the same as image by image."""
    if isinstance(masks, Tensor):
        masks, rois, matched = [masks], [rois], [matched]
    counts = torch.tensor([0] + [len(m) for m in masks[:-1]], device=masks[0].device)
    obj = torch.cat([m + c for m, c in zip(matched, counts.cumsum(0), strict=True)])
    r = torch.cat(list(rois))
    if len(r) == 0:
        return masks[0].new_zeros((0, size, size), dtype=torch.float32)
    src = torch.cat(list(masks)).float()[:, None]  # (M, 1, H, W)
    rows = torch.cat([obj.to(r.dtype)[:, None], r], 1)  # RoI r reads only its own object
    crops = roi_align(src, rows, size, 1.0, sampling_ratio=2, aligned=True)
    return (crops[:, 0] >= 0.5).float()


def paste_masks(masks: Tensor, boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """``masks (N, m, m)`` probabilities in their boxes ``(N, 4)`` -> ``(N, H, W)`` float.

    Each image pixel centre ``(x + 0.5, y + 0.5)`` inside a box is looked up in that box's
    mask with bilinear sampling (``grid_sample``, ``align_corners=False``: mask cell ``j`` covers
    ``[x1 + j w / m, x1 + (j + 1) w / m)``), so no pixel is shifted by half a cell. Only the
    pixels of each box's :func:`box_spans` are sampled (the rest are 0): a hundred detections
    on a 320 px image sampled 10 M pixels, their boxes a few hundred thousand."""
    h, w = size
    n = len(masks)
    out = masks.new_zeros((n, h, w))
    boxes = boxes.to(masks.dtype)
    xs = torch.arange(w, device=masks.device, dtype=masks.dtype) + 0.5
    ys = torch.arange(h, device=masks.device, dtype=masks.dtype) + 0.5
    for i, (a, b, c, d) in enumerate(box_spans(boxes, size).tolist()):
        if c <= a or d <= b:
            continue
        x1, y1, x2, y2 = boxes[i]
        # normalised [-1, 1] coordinates of the span's pixel centres in the box's frame
        gx = (xs[a:c] - x1) / (x2 - x1).clamp(min=1e-6) * 2 - 1
        gy = (ys[b:d] - y1) / (y2 - y1).clamp(min=1e-6) * 2 - 1
        grid = torch.stack(torch.broadcast_tensors(gx[None, :], gy[:, None]), -1)[None]
        cell = F.grid_sample(masks[i, None, None], grid, mode="bilinear",
                             padding_mode="border", align_corners=False)[0, 0]  # fmt: skip
        out[i, b:d, a:c] = cell * ((gx.abs() <= 1)[None, :] & (gy.abs() <= 1)[:, None])
    return out


def box_spans(boxes: Tensor, size: tuple[int, int]) -> Tensor:
    """``int64 (N, 4)`` ``(x_lo, y_lo, x_hi, y_hi)``: the pixels (``lo <= x < hi``) of an
    ``H x W`` image that hold every pixel centre inside each ``xyxy`` box, a pixel wider on
    every side, clipped to the image."""
    h, w = size
    lo = (boxes[:, :2].floor() - 1).clamp(min=0)
    hi = boxes[:, 2:].ceil() + 1
    hi = torch.stack([hi[:, 0].clamp(max=w), hi[:, 1].clamp(max=h)], 1)
    return torch.cat([lo, hi], 1).long()


def maskness(probs: Tensor, threshold: float = 0.5) -> Tensor:
    """``probs (N, m, m)`` -> ``(N,)``: the mean probability over the cells the mask keeps
    (``>= threshold``), ``0`` for a mask that keeps none. A box score says an object is there;
    times this, the score also says its mask is sure of its outline, so a detection whose mask
    hesitates (an occluded person, a box over two) ranks below one whose mask does not."""
    on = (probs >= threshold).to(probs.dtype)
    return (probs * on).flatten(1).sum(1) / on.flatten(1).sum(1).clamp(min=1)


def keypoint_targets(
    keypoints: Tensor, rois: Tensor, matched: Tensor, size: int
) -> tuple[Tensor, Tensor]:
    """Mask R-CNN's keypoint targets: each keypoint as the one "on" cell of an ``m x m`` grid
    over its RoI. ``keypoints (M, K, 3)`` ``(x, y, v)`` of one image's objects, ``rois (R, 4)``,
    ``matched (R,)`` -> ``index (R, K)`` int64 in ``[0, m * m)`` (row-major) and ``valid (R, K)``
    bool (labelled, ``v > 0``, and inside the RoI)."""
    kp = keypoints[matched]  # (R, K, 3)
    x1, y1, x2, y2 = (c[:, None] for c in rois.unbind(1))
    gx = ((kp[..., 0] - x1) / (x2 - x1).clamp(min=1e-6) * size).floor()
    gy = ((kp[..., 1] - y1) / (y2 - y1).clamp(min=1e-6) * size).floor()
    valid = (kp[..., 2] > 0) & (gx >= 0) & (gx < size) & (gy >= 0) & (gy < size)
    index = (gy.clamp(0, size - 1) * size + gx.clamp(0, size - 1)).long()
    return index, valid


def keypoints_from_heatmaps(logits: Tensor, boxes: Tensor) -> Tensor:
    """``logits (N, K, m, m)`` over boxes ``(N, 4)`` -> ``(N, K, 3)`` ``(x, y, score)``: each
    keypoint at the centre of its arg-max cell, scored by that cell's softmax probability."""
    n, k, m, _ = logits.shape
    prob = logits.flatten(2).softmax(-1)
    score, idx = prob.max(-1)
    gx, gy = (idx % m).to(boxes.dtype) + 0.5, (idx // m).to(boxes.dtype) + 0.5
    x1, y1, x2, y2 = (c[:, None] for c in boxes.unbind(1))
    x = x1 + gx * (x2 - x1) / m
    y = y1 + gy * (y2 - y1) / m
    return torch.stack([x, y, score.to(boxes.dtype)], -1)
