"""Wiring: a :class:`~.region_spec.RegionSpec` (or a sliding window's spec) to its
:class:`~.region_detector.RegionDetector`. Each detector is its parts::

    sliding-window  WindowProposer            ImageCropper(warp)       class-agnostic box head
    rcnn            SelectiveSearchProposer   ImageCropper(warp | pad, context)
    fast-rcnn       SelectiveSearchProposer   FeatureCropper(one map, RoIAlign | RoIPool)
    faster-rcnn     RPN                       FeatureCropper(one map or pyramid)
    keypoint-rcnn   RPN                       FeatureCropper           + KeypointHead
    mask-rcnn       RPN                       FeatureCropper           + MaskHead (+ KeypointHead)
"""

from __future__ import annotations

from regionlab.models.detection.backbone import build_backbone
from regionlab.models.detection.box_head import BoxHead
from regionlab.models.detection.croppers import FeatureCropper, ImageCropper
from regionlab.models.detection.csp import PANNeck
from regionlab.models.detection.proposers import SelectiveSearchProposer, WindowProposer
from regionlab.models.detection.region_detector import RegionDetector, region_loss_tasks
from regionlab.models.detection.region_heads import KeypointHead, MaskHead
from regionlab.models.detection.region_targets import RegionSampler
from regionlab.models.detection.rpn import RPN
from regionlab.models.localization.net import PooledNeck
from regionlab.models.losses import MultiTaskLoss
from regionlab.ops.anchors import AnchorGenerator
from regionlab.ops.boxes import BoxCoder
from regionlab.ops.matcher import Matcher
from regionlab.ops.sampler import BalancedSampler


def feature_cropper(spec) -> FeatureCropper:
    """The backbone, and with ``spec.fpn`` the FPN + PAN neck, read by RoIAlign / RoIPool."""
    backbone = build_backbone(spec.backbone)
    strides = spec.fpn_strides if spec.fpn else [spec.stride]
    missing = [s for s in strides if s not in backbone.strides]
    if missing or not strides:
        raise ValueError(f"strides {strides}: backbone {spec.backbone.name!r} has "
                         f"{backbone.strides}")  # fmt: skip
    neck = None
    if spec.fpn:
        in_ch = [backbone.channels[backbone.strides.index(s)] for s in strides]
        # A torchvision backbone's 512-2048 channels are fused at 256 at most: the neck's
        # cost grows with the square of its width.
        neck = PANNeck(in_ch, [min(c, 256) for c in in_ch], spec.neck_depth)
    return FeatureCropper(backbone, strides, neck, spec.roi_channels, spec.roi, spec.roi_size,
                          spec.hidden, spec.canonical, spec.roi_sampling)  # fmt: skip


def image_cropper(backbone, size: int, hidden: int, crop: str = "warp", context: int = 0,
                  chunk: int = 512) -> ImageCropper:  # fmt: skip
    """A small CNN (``backbone``, a :class:`BackboneSpec`) with a pooled neck on every crop."""
    encoder = build_backbone(backbone)
    neck = PooledNeck(encoder.channels[-1], 4, hidden)
    return ImageCropper(encoder, neck, size, crop, context, chunk, out_features=hidden)


def rpn(spec, channels: int) -> RPN:
    """Faster R-CNN's RPN: anchors of ``anchor_scales`` strides on every pyramid level (or
    ``anchor_sizes`` on the one map), IoU 0.7 / 0.3 with low-quality matches, 256 anchors per
    image, unit coder weights."""
    if spec.fpn:
        strides = spec.fpn_strides
        sizes = [[k * st for k in spec.anchor_scales] for st in strides]
    else:
        strides, sizes = [spec.stride], [spec.anchor_sizes]
    anchors = AnchorGenerator(sizes, [spec.anchor_ratios] * len(strides), strides)
    return RPN(channels, anchors, Matcher(0.7, 0.3, allow_low_quality=True),
               BalancedSampler(256, 0.5), BoxCoder((1.0, 1.0, 1.0, 1.0)), spec.rpn_pre_nms,
               spec.rpn_post_nms, spec.rpn_test_pre_nms, spec.rpn_test_post_nms)  # fmt: skip


def region_heads(spec, channels: int) -> list:
    heads = []
    if spec.mask is not None:
        m = spec.mask
        heads.append(MaskHead(channels, spec.num_classes, m.width, m.convs, m.loss, m.size,
                              m.score))  # fmt: skip
    if spec.keypoint is not None:
        k = spec.keypoint
        heads.append(KeypointHead(channels, k.num_keypoints, k.width, k.convs, k.size))
    return heads


def build_region_detector(spec, proposal_cache=None) -> RegionDetector:
    """The detector a :class:`~.region_spec.RegionSpec` names (see the module docstring);
    the spec module imports this one, so specs are duck-typed here."""
    if spec.model == "rcnn":
        cropper = image_cropper(spec.backbone, spec.crop_size, spec.hidden, spec.crop,
                                spec.context)  # fmt: skip
    else:
        cropper = feature_cropper(spec)
    if spec.fixed_proposals:
        proposer = SelectiveSearchProposer(spec.ss_mode, spec.ss_top, spec.ss_max_side,
                                           proposal_cache)  # fmt: skip
    else:
        proposer = rpn(spec, cropper.map_channels)
    heads = region_heads(spec, getattr(cropper, "spatial_channels", 0))
    loss = MultiTaskLoss(region_loss_tasks(proposer, heads), "fixed",
                         dict(spec.loss_weights or {}))  # fmt: skip
    return RegionDetector(
        proposer,
        cropper,
        BoxHead(spec.hidden, spec.num_classes, box_loss=spec.box_loss),
        RegionSampler(
            Matcher(spec.fg_iou, spec.bg_iou), BalancedSampler(spec.samples, spec.positive)
        ),
        loss,
        BoxCoder(),
        spec.score_thresh,
        spec.nms_iou,
        spec.max_det,
        heads=heads,
        head_rois=spec.head_rois,
    )


def build_window_detector(spec) -> RegionDetector:
    """The sliding window (a :class:`~.specs.WindowSpec`): every window warped to ``window x
    window`` through a small CNN and a pooled neck, ``C + 1`` scores and one class-agnostic box
    per window, trained on windows plus jittered copies of the objects (IoU 0.5 / 0.3)."""
    model = RegionDetector(
        WindowProposer(spec.sizes, spec.aspects, spec.stride),
        image_cropper(spec.backbone, spec.window, spec.hidden, chunk=spec.chunk),
        BoxHead(spec.hidden, spec.num_classes, class_specific=False),
        RegionSampler(
            Matcher(0.5, 0.3),
            BalancedSampler(spec.samples, spec.positive),
            jitter=spec.jitter,
            add_gt=False,
        ),  # fmt: skip
        MultiTaskLoss(BoxHead.loss_tasks, "fixed", {"box": spec.loss_weight}),
        BoxCoder(),
        spec.score_thresh,
        spec.nms_iou,
        spec.max_det,
    )
    model._register_load_state_dict_pre_hook(_rename_standalone_window_keys)
    return model


# Before it became a RegionDetector the sliding window had its parts at the top level.
_OLD_WINDOW_KEYS = {"encoder.": "cropper.encoder.", "neck.": "cropper.neck.",
                    "cls_head.": "head.cls.", "box_head.": "head.box."}  # fmt: skip


def _rename_standalone_window_keys(state_dict, prefix, *args) -> None:
    for key in list(state_dict):
        for old, new in _OLD_WINDOW_KEYS.items():
            if key.startswith(prefix + old):
                state_dict[prefix + new + key[len(prefix + old) :]] = state_dict.pop(key)
