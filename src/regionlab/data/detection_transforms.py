"""Detection augmentation shared by every detector: letterbox, random scale/placement, flip,
colour jitter and the YOLO-style 2x2 mosaic.

All geometry is a resize followed by an integer placement: the resized image's top-left corner
goes to ``(pad_x, pad_y)`` of the output canvas (negative = cropped), the rest is ``fill``. A
:class:`Frame` records that map, ``out = orig * scale + pad``, so predictions on the output can
be taken back to original pixels with :func:`unletterbox`. Boxes are ``xyxy`` absolute pixels
throughout. Randomness comes only from the ``torch.Generator`` passed as ``gen``, so an
augmented sample is a pure function of ``(seed, epoch, index)``.

Training drops objects that the crop leaves (mostly) out of view: an object is kept when its
clipped box is at least ``min_size`` pixels wide and high and keeps at least ``min_visible``
of its area; its label, mask, keypoints and crowd flag go with it. This is augmentation, not
data loss: the same object is seen whole under other draws. Evaluation never drops objects.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torchvision import tv_tensors as tv
from torchvision.transforms.v2 import functional as TF

from regionlab.data.sample import IGNORE_INDEX, Sample
from regionlab.data.transforms import _pick, _uniform, colour_jitter, hflip


@dataclass(frozen=True)
class Frame:
    """Map from original to output pixels: ``x_out = x * scale_x + pad_x`` (``y`` likewise);
    ``(orig_h, orig_w)`` is the original image size."""

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float
    orig_h: int
    orig_w: int


def unletterbox(boxes: torch.Tensor, frame: Frame) -> torch.Tensor:
    """Map ``(N, 4)`` ``xyxy`` boxes from output pixels back to original pixels (clipped to
    the original image)."""
    f = frame
    b = (boxes - boxes.new_tensor([f.pad_x, f.pad_y] * 2)) / boxes.new_tensor(
        [f.scale_x, f.scale_y] * 2
    )
    b[:, 0::2] = b[:, 0::2].clamp(0, f.orig_w)
    b[:, 1::2] = b[:, 1::2].clamp(0, f.orig_h)
    return b


def _put(x: torch.Tensor, new_size: tuple[int, int], offset: tuple[int, int],
         size: tuple[int, int], value: int = 0) -> torch.Tensor:  # fmt: skip
    """:func:`place` of one image, mask or box tensor (a ``tv_tensors`` type for boxes and
    keypoints): resized to ``new_size``, its top-left corner at ``offset`` of ``size``."""
    (rh, rw), (px, py), (H, W) = new_size, offset, size
    pad = [max(px, 0), max(py, 0), max(W - px - rw, 0), max(H - py - rh, 0)]
    x = TF.pad(TF.resize(x, [rh, rw]), pad, fill=value)
    return TF.crop(x, pad[1] - py, pad[0] - px, H, W).as_subclass(torch.Tensor)


def place(
    sample: Sample,
    new_size: tuple[int, int],
    offset: tuple[int, int],
    size: tuple[int, int],
    fill: int = 114,
) -> tuple[Sample, Frame]:
    """Resize ``sample`` to ``new_size = (h, w)`` and put its top-left corner at
    ``offset = (x, y)`` of a ``size = (H, W)`` canvas (parts outside are cropped; uncovered
    parts are ``fill`` in the image, ``False`` in masks, ``IGNORE_INDEX`` in ``semantic``).
    Boxes are clipped to the canvas (not filtered); keypoints falling outside get ``v = 0``."""
    (h0, w0), (rh, rw), (px, py), (H, W) = sample.size, new_size, offset, size

    def go(x: torch.Tensor, value: int = 0) -> torch.Tensor:
        return _put(x, new_size, offset, size, value)

    out = replace(sample, image=go(sample.image, fill), area=None)
    out.boxes = go(tv.BoundingBoxes(sample.boxes, format="XYXY", canvas_size=(h0, w0)))
    if sample.masks is not None:
        out.masks = go(tv.Mask(sample.masks))
    if sample.semantic is not None:
        out.semantic = go(tv.Mask(sample.semantic), IGNORE_INDEX)
    if sample.keypoints is not None:
        xy = go(tv.KeyPoints(sample.keypoints[..., :2], canvas_size=(h0, w0)))
        inside = (xy >= 0).all(-1) & (xy[..., 0] <= W) & (xy[..., 1] <= H)
        v = torch.where(inside, sample.keypoints[..., 2], torch.zeros_like(xy[..., 0]))
        out.keypoints = torch.cat([xy, v[..., None]], -1)
    return out, Frame(rw / w0, rh / h0, px, py, h0, w0)


def keep_visible(
    sample: Sample, full_area: torch.Tensor, min_visible: float = 0.25, min_size: float = 2.0
) -> Sample:
    """Keep the objects whose (clipped) box is ``min_size`` pixels wide and high and covers at
    least ``min_visible`` of ``full_area`` (``(N,)``, the unclipped area in output pixels);
    labels, masks, keypoints and crowd flags follow."""
    b = sample.boxes
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    keep = (w >= min_size) & (h >= min_size) & (w * h >= min_visible * full_area)
    keep &= b.isfinite().all(1)

    def sel(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t[keep]

    return replace(
        sample,
        boxes=b[keep],
        labels=sample.labels[keep],
        masks=sel(sample.masks),
        keypoints=sel(sample.keypoints),
        iscrowd=sample.iscrowd[keep],
        area=sel(sample.area),
    )


def _area(boxes: torch.Tensor, frame: Frame) -> torch.Tensor:
    """Area of the original ``boxes`` once scaled into the output (before any clipping)."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) * frame.scale_x * frame.scale_y


def _fit(h: int, w: int, size: tuple[int, int], letterbox: bool, s: float = 1.0):
    """``(h, w)`` resized to fit ``size`` (aspect kept when ``letterbox``), times ``s``."""
    H, W = size
    r_y, r_x = (min(H / h, W / w),) * 2 if letterbox else (H / h, W / w)
    return max(1, round(h * r_y * s)), max(1, round(w * r_x * s))


class DetectionAugment:
    """Bring a detection :class:`Sample` to exactly ``size = (H, W)``.

    Eval (``train=False``): letterbox (longest side fits, aspect kept, grey ``fill`` padding
    centred when ``centre`` else at bottom/right) or, with ``letterbox=False``, a plain resize.
    Use :meth:`letterbox_frame` (or :meth:`frame` from the original size) and
    :func:`unletterbox` to map predictions back to original pixels.

    Train: the letterboxed (or resized) size times a random factor in ``scale``, placed at a
    random offset in the canvas (a random crop when larger, a random translation inside the
    grey canvas when smaller), objects mostly out of view dropped (see the module docstring),
    then :meth:`jitter`: horizontal flip with probability ``flip`` and photometric jitter
    (brightness, contrast, saturation factors in ``1 +- colour``, hue shift in ``+- hue``).
    """

    def __init__(
        self,
        size: tuple[int, int],
        train: bool = True,
        scale: tuple[float, float] = (0.5, 1.5),
        flip: float = 0.5,
        colour: float = 0.3,
        hue: float = 0.015,
        letterbox: bool = True,
        centre: bool = True,
        fill: int = 114,
        min_visible: float = 0.25,
        min_size: float = 2.0,
        flip_perm: list[int] | None = None,
    ) -> None:
        self.size, self.train, self.scale, self.flip = tuple(size), train, scale, flip
        self.flip_perm = flip_perm
        self.colour, self.hue, self.letterbox, self.centre = colour, hue, letterbox, centre
        self.fill, self.min_visible, self.min_size = fill, min_visible, min_size

    def _eval_geometry(self, orig_size: tuple[int, int]):
        (H, W), (rh, rw) = self.size, _fit(*orig_size, self.size, self.letterbox)
        offset = ((W - rw) // 2, (H - rh) // 2) if self.centre else (0, 0)
        return (rh, rw), offset

    def frame(self, orig_size: tuple[int, int]) -> Frame:
        """The eval :class:`Frame` of an image of original size ``(h, w)``."""
        (rh, rw), (px, py) = self._eval_geometry(orig_size)
        return Frame(rw / orig_size[1], rh / orig_size[0], px, py, *orig_size)

    def letterbox_frame(self, sample: Sample) -> tuple[Sample, Frame]:
        """The eval transform, returning the :class:`Frame` with the sample."""
        return place(sample, *self._eval_geometry(sample.size), self.size, self.fill)

    def letterbox_image(self, image: torch.Tensor) -> tuple[torch.Tensor, Frame]:
        """:meth:`letterbox_frame` of a bare ``uint8 (3, h, w)`` image -> ``uint8 (3, H, W)``
        and its :class:`Frame`: the same pixels, without a :class:`Sample` whose (empty)
        boxes would go through every step too (``predict`` has no annotations)."""
        orig = (int(image.shape[-2]), int(image.shape[-1]))
        new_size, offset = self._eval_geometry(orig)
        return _put(image, new_size, offset, self.size, self.fill), self.frame(orig)

    def __call__(self, sample: Sample, gen: torch.Generator | None = None) -> Sample:
        if not self.train:
            return self.letterbox_frame(sample)[0]
        (h, w), (H, W) = sample.size, self.size
        rh, rw = _fit(h, w, self.size, self.letterbox, _uniform(*self.scale, gen))
        px = _pick(min(0, W - rw), max(0, W - rw), gen)
        py = _pick(min(0, H - rh), max(0, H - rh), gen)
        out, frame = place(sample, (rh, rw), (px, py), self.size, self.fill)
        out = keep_visible(out, _area(sample.boxes, frame), self.min_visible, self.min_size)
        return self.jitter(out, gen)

    def jitter(self, sample: Sample, gen: torch.Generator | None = None) -> Sample:
        """Horizontal flip (probability ``flip``) and colour jitter; geometry otherwise kept.
        Always draws five numbers from ``gen``. The flip is :func:`transforms.hflip`
        (``x -> W - x`` for boxes and keypoints), then keypoint ``k`` becomes keypoint
        ``flip_perm[k]`` when given (a left wrist is a right wrist in the mirror)."""
        flip = float(torch.rand((), generator=gen)) < self.flip
        out = hflip(sample) if flip else sample
        if flip and self.flip_perm is not None and out.keypoints is not None:
            out = replace(out, keypoints=out.keypoints[:, self.flip_perm])
        return replace(out, image=colour_jitter(out.image, self.colour, self.hue, gen))


def mosaic(
    samples: list[Sample],
    size: tuple[int, int],
    gen: torch.Generator | None = None,
    scale: tuple[float, float] = (0.5, 1.5),
    fill: int = 114,
    min_visible: float = 0.25,
    min_size: float = 2.0,
) -> Sample:
    """YOLO-style 2x2 mosaic of four samples on a ``size = (H, W)`` canvas.

    A centre ``(cx, cy)`` is drawn in the middle half of the canvas (``[W/4, 3W/4]``,
    ``[H/4, 3H/4]``); every sample is letterbox-scaled to fit ``size`` times one shared random
    factor in ``scale`` and placed with a corner at the centre: sample 0 top-left (its
    bottom-right corner at the centre), 1 top-right, 2 bottom-left, 3 bottom-right. Each shows
    only within its quadrant, the rest is ``fill``. This is Ultralytics' ``2s`` canvas + random
    affine back to ``s`` with the affine reduced to a scale and the crop folded in. Objects
    mostly out of view are dropped as in :class:`DetectionAugment`; the rest keep their
    labels. Masks / keypoints / semantic are kept only when all four samples have them (and
    keypoints share ``K``). Follow with :meth:`DetectionAugment.jitter` for flip and colour.
    """
    if len(samples) != 4:
        raise ValueError(f"mosaic takes 4 samples, got {len(samples)}")
    H, W = size
    cx, cy = round(_uniform(0.25, 0.75, gen) * W), round(_uniform(0.25, 0.75, gen) * H)
    s = _uniform(*scale, gen)
    image = torch.full((3, H, W), fill, dtype=torch.uint8)
    semantic = torch.full((H, W), IGNORE_INDEX, dtype=torch.int64)
    parts = []
    for i, sample in enumerate(samples):
        rh, rw = _fit(*sample.size, size, True, s)
        left, top = i % 2 == 0, i < 2
        out, frame = place(
            sample, (rh, rw), (cx - rw if left else cx, cy - rh if top else cy), size, fill
        )
        parts.append(keep_visible(out, _area(sample.boxes, frame), min_visible, min_size))
        ys, xs = slice(0, cy) if top else slice(cy, H), slice(0, cx) if left else slice(cx, W)
        image[:, ys, xs] = out.image[:, ys, xs]
        if out.semantic is not None:
            semantic[ys, xs] = out.semantic[ys, xs]

    def cat(name: str) -> torch.Tensor | None:
        ts = [getattr(p, name) for p in parts]
        if any(t is None for t in ts) or len({t.shape[1:] for t in ts}) != 1:
            return None
        return torch.cat(ts)

    return replace(
        samples[0],
        image=image,
        semantic=semantic if all(p.semantic is not None for p in samples) else None,
        boxes=cat("boxes"),
        labels=cat("labels"),
        masks=cat("masks"),
        keypoints=cat("keypoints"),
        iscrowd=cat("iscrowd"),
        area=None,
        captions=[],
    )
