"""Geometric transforms that keep every field of a :class:`Sample` aligned.

Randomness comes from an explicit ``torch.Generator`` so an augmented sample is a pure function
of ``(seed, epoch, index)``: runs are reproducible and resumable whatever the worker count.
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F

from regionlab.data.sample import IGNORE_INDEX, Sample


def resize(sample: Sample, size: tuple[int, int]) -> Sample:
    """Resize to ``(H, W)``: image bilinear (antialiased), masks nearest, boxes and keypoints scaled."""
    h0, w0 = sample.size
    h, w = size
    if (h, w) == (h0, w0):
        return sample
    img = F.interpolate(
        sample.image[None].float(),
        size=(h, w),
        mode="bilinear",
        align_corners=False,
        antialias=True,
    )[0]
    sx, sy = w / w0, h / h0
    out = replace(sample, image=img.round().clamp(0, 255).to(torch.uint8))
    if sample.semantic is not None:
        out.semantic = _nearest(sample.semantic, (h, w))
    if sample.masks is not None:
        out.masks = (
            _nearest(sample.masks, (h, w)).bool()
            if len(sample.masks)
            else torch.zeros((0, h, w), dtype=torch.bool)
        )
    out.boxes = sample.boxes * torch.tensor([sx, sy, sx, sy])
    if sample.keypoints is not None:
        kp = sample.keypoints.clone()
        kp[..., 0] *= sx
        kp[..., 1] *= sy
        out.keypoints = kp
    return out


def _nearest(m: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    x = m[None, None] if m.ndim == 2 else m[None]
    y = F.interpolate(x.float(), size=size, mode="nearest-exact")
    return (y[0, 0] if m.ndim == 2 else y[0]).to(m.dtype)


def hflip(sample: Sample) -> Sample:
    """Mirror left-right. Keypoint identities are not swapped (left/right joint pairs are the
    caller's to permute, since they depend on the skeleton)."""
    w = sample.size[1]
    out = replace(sample, image=sample.image.flip(-1))
    if sample.semantic is not None:
        out.semantic = sample.semantic.flip(-1)
    if sample.masks is not None:
        out.masks = sample.masks.flip(-1)
    b = sample.boxes.clone()
    b[:, [0, 2]] = w - sample.boxes[:, [2, 0]]
    out.boxes = b
    if sample.keypoints is not None:
        kp = sample.keypoints.clone()
        kp[..., 0] = w - kp[..., 0]
        out.keypoints = kp
    return out


def crop(sample: Sample, top: int, left: int, size: tuple[int, int]) -> Sample:
    """Crop ``size = (H, W)`` at ``(top, left)``; areas beyond the image are padded (image 0,
    semantic ``IGNORE_INDEX``). Boxes are clipped to the crop."""
    h, w = size
    H, W = sample.size
    pad_b, pad_r = max(0, top + h - H), max(0, left + w - W)

    def cut(t: torch.Tensor, fill) -> torch.Tensor:
        if pad_b or pad_r:
            t = F.pad(t, (0, pad_r, 0, pad_b), value=fill)
        return t[..., top : top + h, left : left + w]

    out = replace(sample, image=cut(sample.image, 0))
    if sample.semantic is not None:
        out.semantic = cut(sample.semantic, IGNORE_INDEX)
    if sample.masks is not None:
        out.masks = cut(sample.masks, False)
    b = sample.boxes - torch.tensor([left, top, left, top], dtype=sample.boxes.dtype)
    b[:, [0, 2]] = b[:, [0, 2]].clamp(0, w)
    b[:, [1, 3]] = b[:, [1, 3]].clamp(0, h)
    out.boxes = b
    if sample.keypoints is not None:
        kp = sample.keypoints.clone()
        kp[..., 0] -= left
        kp[..., 1] -= top
        out.keypoints = kp
    return out


class SegmentationAugment:
    """Resize to ``size``, then (training) random scale in ``scale`` and random crop back to
    ``size``, and a horizontal flip with probability ``flip``."""

    def __init__(
        self,
        size: tuple[int, int],
        train: bool = True,
        scale: tuple[float, float] = (0.75, 1.5),
        flip: float = 0.5,
    ) -> None:
        self.size, self.train, self.scale, self.flip = tuple(size), train, scale, flip

    def __call__(self, sample: Sample, gen: torch.Generator | None = None) -> Sample:
        h, w = self.size
        if not self.train:
            return resize(sample, (h, w))
        s = self.scale[0] + (self.scale[1] - self.scale[0]) * float(torch.rand((), generator=gen))
        sh, sw = max(1, round(h * s)), max(1, round(w * s))
        out = resize(sample, (sh, sw))
        top = int(torch.randint(max(1, sh - h + 1), (), generator=gen))
        left = int(torch.randint(max(1, sw - w + 1), (), generator=gen))
        out = crop(out, top, left, (h, w))
        if float(torch.rand((), generator=gen)) < self.flip:
            out = hflip(out)
        return out
