"""What each region looks like: cut out of the image and run through its own CNN (sliding window,
R-CNN), or read from feature maps of the whole image computed once (Fast, Faster and Mask
R-CNN): one map or a pyramid, by RoIAlign or RoIPool.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torchvision.ops import roi_align

from regionlab.models.detection.protocols import Maps
from regionlab.ops.roi import (
    crop_level,
    crop_levels,
    expand_boxes,
    pyramid_levels,
    roi_rows,
    square_boxes,
)

ROI_OPS = ("align", "pool")


class ImageCropper(nn.Module):
    """Each region cut out of the *image* and sent through its own CNN (sliding window, R-CNN).

    ``crop="warp"`` stretches the region to ``size x size`` (R-CNN's choice: aspect ratio
    changes); ``"pad"`` takes the tightest square around it instead (aspect kept; what lies
    outside the image is grey). ``context`` pixels *at the warped scale* surround the region
    (R-CNN's 16 px at 227: the box is grown by ``size / (size - 2 context)``). Crops are
    bilinear samples of the normalised image (``roi_align``), so outside the image reads 0: the
    mean colour.

    ``encoder`` maps ``(R, 3, size, size)`` to an :class:`EncoderOutput`; ``neck`` its last map
    to ``(R, out_features)``."""

    map_channels = 0  # no maps: nothing for an RPN to read

    def __init__(self, encoder: nn.Module, neck: nn.Module, size: int, crop: str = "warp",
                 context: int = 0, chunk: int = 512, out_features: int = 0) -> None:  # fmt: skip
        super().__init__()
        if crop not in ("warp", "pad"):
            raise ValueError(f"crop must be warp or pad, got {crop!r}")
        if not 0 <= 2 * context < size:
            raise ValueError(f"context {context} leaves nothing of a {size} px crop")
        self.encoder, self.neck = encoder, neck
        self.size, self.crop, self.context, self.chunk = size, crop, context, chunk
        self.out_features = out_features

    def features(self, x: Tensor) -> Maps:
        return []

    def regions(self, rois: Tensor) -> Tensor:
        """The image boxes actually sampled for ``rois`` (context and padding included)."""
        if self.crop == "pad":
            rois = square_boxes(rois)
        if self.context:
            rois = expand_boxes(rois, self.size / (self.size - 2 * self.context))
        return rois

    def crops(self, x: Tensor, rois: Sequence[Tensor] | Tensor) -> Tensor:
        """``(R, 3, size, size)`` crops of the normalised images ``x``; ``rois`` one ``(K_i,
        4)`` tensor per image or ``(R, 5)`` rows (:func:`~regionlab.ops.roi.roi_rows`)."""
        if isinstance(rois, Tensor):
            boxes = torch.cat([rois[:, :1], self.regions(rois[:, 1:])], 1)
        else:
            boxes = [self.regions(r) for r in rois]
        s = self.size
        return roi_align(x, boxes, (s, s), spatial_scale=1.0, sampling_ratio=2, aligned=True)

    def _encode(self, crops: Tensor) -> Tensor:
        return self.neck(self.encoder(crops).features[-1])

    def forward(self, x: Tensor, maps: Maps, rois: Sequence[Tensor]) -> Tensor:
        if torch.is_grad_enabled() or sum(len(r) for r in rois) <= self.chunk:
            return self._encode(self.crops(x, rois))
        # Inference over thousands of windows: crop and encode a chunk at a time, so memory
        # holds one chunk of crops, not every window of the batch.
        rows = roi_rows(rois, x.dtype, x.device)
        return torch.cat([self._encode(self.crops(x, r)) for r in rows.split(self.chunk)])


def region_fc(in_features: int, hidden: int) -> nn.Sequential:
    """The two fully connected layers (``ReLU`` after each) every feature cropper ends with."""
    return nn.Sequential(
        nn.Linear(in_features, hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, hidden),
        nn.ReLU(inplace=True),
    )


def _conv1x1(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 1), nn.ReLU(inplace=True))


class FeatureCropper(nn.Module):
    """Regions read from feature maps of the whole image, computed once per batch: one map
    (Fast R-CNN) or a feature pyramid (FPN, Lin et al. 2017), one class for both.

    ``backbone`` runs once; its maps at ``strides`` go through ``neck`` (``None`` for one map;
    FPN top-down + PAN bottom-up :class:`~regionlab.models.detection.csp.PANNeck` for a
    pyramid). With a neck, a ``1x1`` convolution brings every level to ``channels`` *before*
    the maps are handed out (so one RPN head and one box head serve all levels); without one,
    the RPN reads the backbone's map and the ``1x1`` reduction applies only to what is cropped.
    A region of side ``sqrt(w h)`` is read from the level of stride ``16 sqrt(w h) /
    canonical`` (FPN's rule with ``canonical`` for 224: our inputs are 320 px where the paper's
    are 800) as an ``out x out`` grid by RoIAlign (``roi="align"``: bilinear samples at exact
    positions, ``aligned=True``, ``sampling`` per bin side) or RoIPool (``"pool"``: Fast
    R-CNN's max over quantised bins); two fully connected layers of ``hidden`` units follow.
    Right-sized for a CPU: torchvision's two 1024-wide layers over ``256 x 7 x 7`` take 13 M
    weights and most of a training step."""

    def __init__(
        self,
        backbone: nn.Module,
        strides: Sequence[int],
        neck: nn.Module | None = None,
        channels: int = 64,
        roi: str = "align",
        out: int = 7,
        hidden: int = 256,
        canonical: float = 112.0,
        sampling: int = 2,
    ) -> None:
        super().__init__()
        if roi not in ROI_OPS:
            raise ValueError(f"roi must be align or pool, got {roi!r}")
        missing = [s for s in strides if s not in backbone.strides]
        if missing or not strides:
            raise ValueError(f"strides {list(strides)}: the backbone has {backbone.strides}")
        if any(b != 2 * a for a, b in zip(strides, strides[1:])):
            # pyramid_levels() counts octaves from the finest map
            raise ValueError(f"strides must double from level to level, finest first: {strides}")
        if neck is None and len(strides) > 1:
            raise ValueError(f"{len(strides)} levels need a neck to fuse them")
        self.backbone, self.neck = backbone, neck
        self.strides = tuple(int(s) for s in strides)
        self.taps = [backbone.strides.index(s) for s in self.strides]
        if neck is not None:
            self.lateral = nn.ModuleList(_conv1x1(c, channels) for c in neck.channels)
            self.reduce, self.map_channels = None, channels
        else:
            width = backbone.channels[self.taps[0]]
            self.lateral, self.reduce, self.map_channels = nn.ModuleList(), _conv1x1(width, channels), width  # fmt: skip
        self.fc = region_fc(channels * out * out, hidden)
        self.roi, self.out, self.canonical, self.sampling = roi, out, float(canonical), sampling
        self.spatial_channels, self.out_features = channels, hidden

    def features(self, x: Tensor) -> Maps:
        """One ``(N, map_channels, H / s, W / s)`` map per stride, finest first."""
        f = self.backbone(x).features
        taps = [f[i] for i in self.taps]
        if self.neck is None:
            return taps
        return [lat(m) for lat, m in zip(self.lateral, self.neck(taps))]

    def levels(self, boxes: Tensor) -> Tensor:
        """``int64 (K,)``: the level each ``xyxy`` box is read from."""
        return pyramid_levels(boxes, self.strides, self.canonical)

    def spatial(self, maps: Maps, rois: Sequence[Tensor], out: int | None = None) -> Tensor:
        """Each region as ``(spatial_channels, out, out)`` read from its level (``out`` default
        the box head's; the mask head reads twice that): ``(R, C, out, out)``, order of
        ``rois``."""
        out = out or self.out
        if self.reduce is not None:
            maps = [self.reduce(m) for m in maps]
        rows = roi_rows(rois, maps[0].dtype, maps[0].device)
        if len(maps) == 1:
            return crop_level(maps[0], rows, out, self.strides[0], self.roi, self.sampling)
        if not len(rows):
            return maps[0].new_zeros((0, self.spatial_channels, out, out))
        return crop_levels(maps, rows, self.levels(rows[:, 1:]), out, self.strides, self.roi,
                           self.sampling)  # fmt: skip

    def forward(self, x: Tensor, maps: Maps, rois: Sequence[Tensor]) -> Tensor:
        return self.fc(self.spatial(maps, rois).flatten(1))
