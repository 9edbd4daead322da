"""Geometric transforms that keep every field of a :class:`Sample` aligned.

Randomness comes from an explicit ``torch.Generator`` so an augmented sample is a pure function
of ``(seed, epoch, index)``: runs are reproducible and resumable whatever the worker count.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF

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
    out = replace(sample, image=img.round().clamp(0, 255).to(torch.uint8), area=None)
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
    """Crop ``size = (H, W)`` at ``(top, left)`` (may be negative); areas beyond the image are
    padded (image 0, semantic ``IGNORE_INDEX``). Boxes are clipped to the crop."""
    h, w = size
    H, W = sample.size
    pad_t, pad_l = max(0, -top), max(0, -left)
    pad_b, pad_r = max(0, top + h - H), max(0, left + w - W)

    def cut(t: torch.Tensor, fill) -> torch.Tensor:
        if pad_t or pad_l or pad_b or pad_r:
            t = F.pad(t, (pad_l, pad_r, pad_t, pad_b), value=fill)
        return t[..., top + pad_t : top + pad_t + h, left + pad_l : left + pad_l + w]

    out = replace(sample, image=cut(sample.image, 0), area=None)
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


def colour_jitter(
    image: torch.Tensor, colour: float, hue: float, gen: torch.Generator | None = None
) -> torch.Tensor:
    """``uint8 (3, H, W)`` with brightness, contrast and saturation factors drawn in
    ``1 +- colour`` and a hue shift in ``+- hue`` (a share of the colour wheel), applied in
    that order. Always draws four numbers from ``gen``."""
    b, k, s = (_uniform(1 - colour, 1 + colour, gen) for _ in range(3))
    shift = _uniform(-hue, hue, gen)
    img = TF.adjust_saturation(TF.adjust_contrast(TF.adjust_brightness(image, b), k), s)
    return TF.adjust_hue(img, shift) if shift else img


class SegmentationAugment:
    """Resize to ``size``, then (training) random scale in ``scale`` and random crop back to
    ``size``, a horizontal flip with probability ``flip``, and with ``colour > 0``
    :func:`colour_jitter` (``colour``, ``hue``); the class map moves with the geometry only."""

    def __init__(
        self,
        size: tuple[int, int],
        train: bool = True,
        scale: tuple[float, float] = (0.75, 1.5),
        flip: float = 0.5,
        colour: float = 0.0,
        hue: float = 0.0,
    ) -> None:
        self.size, self.train, self.scale, self.flip = tuple(size), train, scale, flip
        self.colour, self.hue = colour, hue

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
        if self.colour or self.hue:  # no draws without: a run without jitter is as before
            out = replace(out, image=colour_jitter(out.image, self.colour, self.hue, gen))
        return out


def largest_object(sample: Sample) -> Sample:
    """Keep only the largest non-crowd object (by box area): single-object localization on any
    detection dataset. Raises ``ValueError`` when the sample has no such object."""
    keep = ~sample.iscrowd
    if not bool(keep.any()):
        raise ValueError("has no (non-crowd) object")
    b = sample.boxes
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    area = torch.where(keep, area, torch.full_like(area, -1.0))
    i = int(area.argmax())
    return replace(
        sample,
        boxes=b[i : i + 1],
        labels=sample.labels[i : i + 1],
        masks=None if sample.masks is None else sample.masks[i : i + 1],
        keypoints=None if sample.keypoints is None else sample.keypoints[i : i + 1],
        iscrowd=sample.iscrowd[i : i + 1],
        area=None if sample.area is None else sample.area[i : i + 1],
    )


def _uniform(lo: float, hi: float, gen: torch.Generator | None) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=gen))


class ObjectAugment:
    """For single-object localization: warp the image to ``size = (H, W)`` (aspect not kept).

    Training adds a random crop that keeps the first object's box whole (the crop covers
    ``crop`` = (min, max) of the image area, enlarged where the box needs it) and a horizontal
    flip with probability ``flip``.
    """

    def __init__(
        self,
        size: tuple[int, int],
        train: bool = True,
        crop: tuple[float, float] = (0.5, 1.0),
        flip: float = 0.5,
    ) -> None:
        self.size, self.train, self.crop, self.flip = tuple(size), train, crop, flip

    def __call__(self, sample: Sample, gen: torch.Generator | None = None) -> Sample:
        if self.train:
            H, W = sample.size
            x1, y1, x2, y2 = sample.boxes[0].tolist()
            side = _uniform(*self.crop, gen) ** 0.5
            ch = min(H, max(round(H * side), math.ceil(y2) - math.floor(y1)))
            cw = min(W, max(round(W * side), math.ceil(x2) - math.floor(x1)))
            top = _pick(max(0, math.ceil(y2) - ch), min(math.floor(y1), H - ch), gen)
            left = _pick(max(0, math.ceil(x2) - cw), min(math.floor(x1), W - cw), gen)
            sample = crop(sample, top, left, (ch, cw))
            if float(torch.rand((), generator=gen)) < self.flip:
                sample = hflip(sample)
        return resize(sample, self.size)


def _pick(lo: int, hi: int, gen: torch.Generator | None) -> int:
    """A uniform integer in ``[lo, hi]`` (``lo`` when the range is empty)."""
    return lo if hi <= lo else lo + int(torch.randint(hi - lo + 1, (), generator=gen))


def crop_to_box(
    sample: Sample, box: list[float], size: tuple[int, int], margin: float = 0.0
) -> tuple[Sample, list[float]]:
    """Crop the image to ``box`` (``xyxy`` pixels) grown by ``margin`` of its size on each side,
    padding with zeros beyond the image, and resize to ``size``. Returns the sample (boxes and
    keypoints in the new pixel frame) and the integer crop box actually used, in the old frame."""
    x1, y1, x2, y2 = box
    mw, mh = (x2 - x1) * margin, (y2 - y1) * margin
    left, top = math.floor(x1 - mw), math.floor(y1 - mh)
    right, bottom = max(left + 1, math.ceil(x2 + mw)), max(top + 1, math.ceil(y2 + mh))
    out = crop(sample, top, left, (bottom - top, right - left))
    return resize(out, size), [float(left), float(top), float(right), float(bottom)]


class KeypointAugment:
    """For keypoint regression on one object: crop its box (grown by ``margin``) and resize to
    ``size``. Training jitters the box (shift up to ``shift`` of its size, scale in ``scale``)
    and flips with probability ``flip`` when ``flip_perm`` (the keypoint order after a mirror,
    e.g. left/right joints swapped) is given; without it no flip is done, since a mirror
    changes which keypoint is which. Training also rotates the crop about its centre by up to
    ``rotate`` degrees (keypoints follow; areas rotated in are black).

    Returns ``(sample, crop_box)``: the crop (``size``, keypoints in its pixel frame) and the
    ``xyxy`` box it was cut from, in the input's pixel frame (after a flip: the mirrored frame;
    its width and height are the same either way).
    """

    def __init__(
        self,
        size: tuple[int, int],
        train: bool = True,
        margin: float = 0.1,
        shift: float = 0.05,
        scale: tuple[float, float] = (0.9, 1.1),
        flip: float = 0.5,
        flip_perm: list[int] | None = None,
        rotate: float = 0.0,
    ) -> None:
        self.size, self.train, self.margin, self.rotate = tuple(size), train, margin, rotate
        self.shift, self.scale, self.flip, self.flip_perm = shift, scale, flip, flip_perm

    def __call__(
        self, sample: Sample, gen: torch.Generator | None = None
    ) -> tuple[Sample, list[float]]:
        x1, y1, x2, y2 = sample.boxes[0].tolist()
        if self.train:
            w, h = x2 - x1, y2 - y1
            s = _uniform(*self.scale, gen)
            cx = (x1 + x2) / 2 + _uniform(-self.shift, self.shift, gen) * w
            cy = (y1 + y2) / 2 + _uniform(-self.shift, self.shift, gen) * h
            x1, x2, y1, y2 = cx - s * w / 2, cx + s * w / 2, cy - s * h / 2, cy + s * h / 2
            if self.flip_perm is not None and float(torch.rand((), generator=gen)) < self.flip:
                W = sample.size[1]
                sample = hflip(sample)
                sample.keypoints = sample.keypoints[:, self.flip_perm]
                x1, x2 = W - x2, W - x1
        out, box = crop_to_box(sample, [x1, y1, x2, y2], self.size, self.margin)
        if self.train and self.rotate:
            out = rotate(out, _uniform(-self.rotate, self.rotate, gen))
        return out, box


def rotate(sample: Sample, degrees: float) -> Sample:
    """Rotate image and keypoints counter-clockwise about the image centre (size kept, corners
    filled with black). Boxes, masks and semantic maps are dropped from the result's meaning:
    only ``image`` and ``keypoints`` are rotated (this serves keypoint regression)."""
    h, w = sample.size
    img = TF.rotate(sample.image, degrees, interpolation=TF.InterpolationMode.BILINEAR)
    out = replace(sample, image=img, semantic=None, masks=None, area=None)
    if sample.keypoints is not None:
        t = math.radians(degrees)
        c, s = math.cos(t), math.sin(t)
        kp = sample.keypoints.clone()
        dx, dy = kp[..., 0] - w / 2, kp[..., 1] - h / 2
        kp[..., 0] = w / 2 + dx * c + dy * s
        kp[..., 1] = h / 2 - dx * s + dy * c
        out.keypoints = kp
    return out


def flip_permutation(names: list[str]) -> list[int] | None:
    """Keypoint order after a left-right mirror, from names such as ``left_eye``/``right_eye``
    or ``left shoulder``/``right shoulder``: each left/right pair swaps. ``None`` when a name
    has no partner (the mirror could not be labelled)."""
    index = {n: i for i, n in enumerate(names)}
    perm = []
    for n in names:
        for a, b in (("left", "right"), ("right", "left")):
            if a in n:
                partner = n.replace(a, b)
                if partner not in index:
                    return None
                perm.append(index[partner])
                break
        else:
            perm.append(index[n])
    return perm
