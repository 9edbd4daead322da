"""Builders of the detection family: ``detect`` (grid, sliding window, R-CNN, Fast and Faster
R-CNN) and ``instance`` (Mask R-CNN), with what they share: the backbone spec and the
Fast / Faster / Mask R-CNN scale settings and their size-dependent defaults.

Each option left unset (None) keeps the spec's default; any value given, 0 and [] included,
goes to the spec, whose own checks then say what is wrong with it."""

from __future__ import annotations

from regionlab.api.builders.shared import given
from regionlab.api.prepare import base_dataset, classes_of, default_size, say

# AdamW 2e-3 with warm-up and cosine decay, batch 16 (measured on Penn-Fudan and raccoon, see
# the closing note of the detection issue). COCO evaluation about 20 times a run, whatever its
# epochs hold (engine/cadence.py): the sliding window costs seconds per image.
DETECT_RECIPE = {"batch_size": 16, "lr": 2e-3, "eval_batch_size": 16}
# Faster R-CNN: batch 8, measured on Penn-Fudan (15 min, 1 thread): AP 0.446 / AP50 0.871
# against 0.381 / 0.860 at batch 16 (twice the steps; the second stage samples per image).
DETECT_MODEL_RECIPES = {"faster-rcnn": {"batch_size": 8}}
INSTANCE_RECIPE = {"batch_size": 8, "lr": 2e-3, "eval_batch_size": 8}

_DETECTOR = {"size": None, "mosaic": 1.0, "mosaic_off": 0.85, "scale": [0.5, 1.5], "flip": 0.5,
             "backbone": None, "pretrained": None, "widths": None, "depths": None, "fpn": None,
             "anchor_scales": None, "roi": "align"}  # fmt: skip
DETECT_DEFAULTS = {**_DETECTOR, "model": "grid", "strides": None, "assigner": "tal",
                   "anchors_per_cell": None, "nms_iou": None, "window": 48, "window_sizes": None,
                   "aspects": None, "window_stride": None, "crop": "warp", "crop_size": 64,
                   "context": 8, "proposals": "fast", "top_proposals": 2000,
                   "proposal_cache": None}  # fmt: skip
INSTANCE_DEFAULTS = {**_DETECTOR, "model": "mask-rcnn", "stride": None, "anchor_sizes": None,
                     "mask_size": 28, "mask_loss": "sigmoid", "mask_width": 32, "mask_convs": 4,
                     "mask_score": "maskness", "mask_threshold": 0.4,
                     "keypoints": False}  # fmt: skip


def _object_classes(args, train_set, what: str) -> list[str]:
    classes = classes_of(train_set)
    if classes[0] != "background":
        raise ValueError(f"{args.data}: {what} needs object classes after a background class, "
                         f"got {classes} (a class-map dataset has no objects)")  # fmt: skip
    return classes


def build_detect(args, train_set):
    from regionlab.tasks.detection import DetectionTask

    classes = _object_classes(args, train_set, "detection")
    size = args.size if args.size is not None else default_size(args, train_set, (320, 320))[0]
    n = len(classes) - 1
    if args.model == "grid":
        spec = _grid_spec(args, n)
    elif args.model in ("rcnn", "fast-rcnn", "faster-rcnn"):
        spec = _region_spec(args, n, size)
    elif args.model == "sliding-window":
        spec = _window_spec(args, n)
    else:
        raise ValueError(f"unknown detector {args.model!r}; expected grid, sliding-window, "
                         "rcnn, fast-rcnn or faster-rcnn")  # fmt: skip
    task = DetectionTask(
        spec, size, classes, args.mosaic, args.mosaic_off, tuple(args.scale), args.flip
    )
    if args.model == "sliding-window":
        windows = task.build_model().proposer.windows((size, size), "cpu")
        say(f"sliding window: {len(windows)} windows per {size}x{size} image")
    return task


def _grid_spec(args, n: int):
    from regionlab.models.detection.specs import GridSpec

    opts = given(strides=args.strides, anchors_per_cell=args.anchors_per_cell,
                 nms_iou=args.nms_iou)  # fmt: skip
    return GridSpec(n, backbone=backbone_spec(args), assigner=args.assigner, **opts)


def _region_spec(args, n: int, size: int):
    from regionlab.models.detection.region_spec import RegionSpec

    if args.model == "rcnn" and args.fpn:
        raise ValueError("fpn reads regions from feature maps: fast-rcnn or faster-rcnn "
                         "(rcnn crops the image)")  # fmt: skip
    opts = given(nms_iou=args.nms_iou)
    opts.update(region_scale(args, size, learned=args.model == "faster-rcnn"))
    return RegionSpec(
        args.model,
        n,
        backbone=backbone_spec(args, "small" if args.model == "rcnn" else "csp"),
        crop_size=args.crop_size,
        crop=args.crop,
        context=args.context,
        roi=args.roi,
        ss_mode=args.proposals,
        ss_top=args.top_proposals,
        cache=args.proposal_cache,
        **opts,
    )


def _window_spec(args, n: int):
    from regionlab.models.detection.specs import WindowSpec

    opts = given(window=args.window, sizes=args.window_sizes, aspects=args.aspects,
                 stride=args.window_stride)  # fmt: skip
    return WindowSpec(n, backbone=backbone_spec(args, "small"), **opts)


def backbone_spec(args, default: str = "csp"):
    """The detector's :class:`~regionlab.models.detection.backbone.BackboneSpec` from the
    ``backbone`` option (else ``default``), ``widths``, ``depths`` and ``pretrained``."""
    from regionlab.models.detection.backbone import BackboneSpec

    name = args.backbone if args.backbone is not None else default
    return BackboneSpec(name, args.widths, args.depths, args.pretrained)


def region_scale(args, size: int, learned: bool) -> dict:
    """Fast / Faster / Mask R-CNN's map and anchor settings for a ``size`` px input: a feature
    pyramid for ``learned`` proposals (an RPN) unless ``fpn`` is False; anchors of 4 and 8
    strides on each level (2 and 4 up to 160 px, where objects are a few cells wide); without
    a pyramid, ``stride`` (default 8 up to 160 px, else 16) and ``anchor_sizes`` (default
    16-64 px up to 160 px, else 32-256)."""
    fpn = args.fpn if args.fpn is not None else learned
    small = size <= 160
    if fpn:
        scales = args.anchor_scales
        out = {"fpn": True, "anchor_scales": scales if scales is not None else
               ([2.0, 4.0] if small else [4.0, 8.0])}  # fmt: skip
        widths = getattr(args, "widths", None)
        if getattr(args, "backbone", None) in (None, "csp") and widths:
            # the csp backbone has stride 2 ** (i + 1) after width i: its three coarsest
            out["fpn_strides"] = [2 ** (i + 1) for i in range(len(widths))][-3:]
        return out
    stride, sizes = getattr(args, "stride", None), getattr(args, "anchor_sizes", None)
    return {
        "fpn": False,
        "stride": stride if stride is not None else (8 if small else 16),
        "anchor_sizes": sizes if sizes is not None else
        ([16.0, 32.0, 64.0] if small else [32.0, 64.0, 128.0, 256.0]),
    }  # fmt: skip


def build_instance(args, train_set):
    from regionlab.models.detection.region_spec import (
        KeypointHeadSpec,
        MaskHeadSpec,
        RegionSpec,
    )
    from regionlab.tasks.instance import InstanceTask

    classes = _object_classes(args, train_set, "instance segmentation")
    size = args.size if args.size is not None else default_size(args, train_set, (320, 320))[0]
    kp = keypoint_options(args, train_set)
    k = kp.pop("keypoints", 0)
    m = MaskHeadSpec(args.mask_size, args.mask_loss, args.mask_width, args.mask_convs,
                     args.mask_score, args.mask_threshold)  # fmt: skip
    spec = RegionSpec(
        "mask-rcnn",
        len(classes) - 1,
        backbone=backbone_spec(args),
        roi=args.roi,
        mask=m,
        keypoint=KeypointHeadSpec(k, m.size, m.width, m.convs) if k else None,
        **region_scale(args, size, learned=True),
    )
    return InstanceTask(spec, size, classes, mosaic=args.mosaic, mosaic_off=args.mosaic_off,
                        scale=tuple(args.scale), **kp)  # fmt: skip


def keypoint_options(args, train_set) -> dict:
    """``keypoints`` (K), ``flip``, ``flip_perm``, ``oks_sigmas`` and ``skeleton`` for
    :class:`InstanceTask` from the data: mirrors rename left and right keypoints, and a set
    whose keypoint names have no sides is not mirrored at all (which outline point of a
    mirrored triangle is "outline 2" is not a renaming)."""
    from regionlab.data.transforms import flip_permutation

    if not args.keypoints:
        return {"flip": args.flip}
    base = base_dataset(train_set)
    k = getattr(base, "num_keypoints", 0)
    if not k:
        raise ValueError(f"{args.data} has no keypoints (for COCO, use person_keypoints_*.json "
                         f"and add :keypoints=true)")  # fmt: skip
    names = list(getattr(base, "keypoint_names", []) or [])
    sided = any("left" in n or "right" in n for n in names)
    perm = flip_permutation(names) if sided else None
    if perm is None and args.flip:
        why = "a left/right name without its partner" if sided else "no left/right names"
        say(f"keypoints: {args.data}'s keypoints have {why}, so no flips")
    return {
        "keypoints": k,
        "flip": args.flip if perm is not None else 0.0,
        "flip_perm": perm,
        "oks_sigmas": None,  # COCO's for 17 keypoints, else InstanceTask's default
        "skeleton": [list(p) for p in getattr(base, "skeleton", [])],
    }
