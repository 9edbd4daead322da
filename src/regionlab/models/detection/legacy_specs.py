"""Specs as checkpoints of earlier versions stored them, upgraded to today's dicts (plain dict
to plain dict: no spec class is needed here), so an old run's weights load into today's
detectors and give the same outputs (tested against outputs recorded by the old code).

Earlier formats:

- a detector: ``{"model", "grid", "window", "region"}``, the model's own spec under its key,
  backbones as flat ``backbone`` (a name), ``widths``, ``depths``, ``pretrained`` fields
  (R-CNN's crop CNN as ``crop_widths``, the sliding window's as ``widths``);
- Mask R-CNN: a flat Faster R-CNN spec plus ``mask_size``, ``mask_loss``, ``mask_width``,
  ``mask_convs``, ``keypoints``, ``mask_rois``, mixed with the task's own fields.
"""

from __future__ import annotations

_DETECTOR_KEYS = ("grid", "window", "region")
_MASK_KEYS = ("mask_size", "mask_loss", "mask_width", "mask_convs", "keypoints", "mask_rois")
_BACKBONE_KEYS = ("backbone", "widths", "depths", "pretrained", "crop_widths")
# Every field of the old flat region spec (and so of the old Mask R-CNN spec).
_REGION_KEYS = (
    "model num_classes crop_size crop context crop_widths backbone widths depths pretrained stride "
    "roi roi_size roi_sampling roi_channels hidden ss_mode ss_top ss_max_side cache fpn "
    "fpn_strides neck_depth canonical anchor_scales anchor_sizes anchor_ratios rpn_pre_nms "
    "rpn_post_nms rpn_test_pre_nms rpn_test_post_nms samples positive fg_iou bg_iou box_loss "
    "loss_weights score_thresh nms_iou max_det"
).split()
# Values of fields added later, for specs stored before them: what they were built with.
_REGION_DEFAULTS = {"roi_sampling": 2}
_MASK_DEFAULTS = {"mask_rois": 0}


def _old_detector(d: dict) -> bool:
    # every one of the three keys (today's sliding-window spec has a ``window`` field of its own)
    return all(k in d for k in _DETECTOR_KEYS)


def is_legacy(d: dict) -> bool:
    """Whether ``d`` is a detector spec in an earlier format."""
    flat_backbone = isinstance(d.get("backbone"), str)
    return _old_detector(d) or any(k in d for k in _MASK_KEYS) or flat_backbone


def _backbone(d: dict, small: bool = False) -> dict:
    """Pop the flat backbone fields of ``d`` into a backbone spec dict."""
    flat = {k: d.pop(k) for k in _BACKBONE_KEYS if k in d}
    if small:
        return {"name": "small", "widths": flat.get("crop_widths", flat.get("widths"))}
    return {"name": flat.get("backbone", "csp"), "widths": flat.get("widths"),
            "depths": flat.get("depths"), "pretrained": flat.get("pretrained")}  # fmt: skip


def _region(d: dict) -> dict:
    d = {**_REGION_DEFAULTS, **d}
    rcnn = d["model"] == "rcnn"
    crop_widths = d.pop("crop_widths", None)
    backbone = _backbone({**d, "crop_widths": crop_widths} if rcnn else d, small=rcnn)
    for k in _BACKBONE_KEYS:
        d.pop(k, None)
    return {**d, "backbone": backbone, "head_rois": 0}


def _mask(d: dict) -> dict:
    d = {**_MASK_DEFAULTS, **d}
    m = {k: d.pop(k) for k in _MASK_KEYS if k in d}
    out = _region({**d, "model": "mask-rcnn"})
    size, width, convs = m.get("mask_size", 28), m.get("mask_width", 32), m.get("mask_convs", 4)
    out["mask"] = {"size": size, "loss": m.get("mask_loss", "sigmoid"), "width": width,
                   "convs": convs}  # fmt: skip
    if m.get("keypoints"):
        out["keypoint"] = {"num_keypoints": m["keypoints"], "size": size, "width": width,
                           "convs": convs}  # fmt: skip
    out["head_rois"] = m["mask_rois"]
    return out


def from_legacy(d: dict) -> dict:
    """An earlier format's detector spec (model fields only) as today's dict."""
    if any(k in d for k in _MASK_KEYS):
        return _mask(dict(d))
    if _old_detector(d):
        model = d["model"]
        part = dict(d[{"grid": "grid", "sliding-window": "window"}.get(model, "region")])
        if model in ("grid", "sliding-window"):
            return _dense(part, model)
        return _region(part)
    if d.get("model") in ("grid", "sliding-window"):
        return _dense(dict(d), d["model"])
    return _region(dict(d))


def _dense(part: dict, model: str) -> dict:
    backbone = _backbone(part, small=model == "sliding-window")
    return {**part, "backbone": backbone, "model": model}


def split_legacy_task_dict(d: dict) -> tuple[dict, dict]:
    """A task checkpoint's spec of an earlier format -> (detector spec dict in today's format,
    the task's own fields)."""
    if _old_detector(d):
        keys = ("model", *_DETECTOR_KEYS)
    else:  # Mask R-CNN: its fields were flat among the task's
        keys = (*_REGION_KEYS, *_MASK_KEYS)
    spec = {k: v for k, v in d.items() if k in keys}
    return from_legacy(spec), {k: v for k, v in d.items() if k not in keys}
