"""Instance segmentation as an engine task: the detection task with masks (Mask R-CNN) and,
optionally, keypoints (Mask R-CNN's keypoint head).

Everything a sample goes through is the detection task's (letterbox, mosaic, scale, flip,
colour jitter: the augmentations move the masks with the boxes); targets now carry ``masks``.
Evaluation maps each predicted mask back to the image's own pixels and scores boxes *and*
masks with COCO AP (faster-coco-eval, identical to pycocotools): box metrics under their COCO
names (``AP``, ``AP50``, ...), mask metrics as ``mask_AP``, ``mask_AP50``, ... (the main
metric ``mask_AP``), keypoints by OKS as ``kp_AP``, ... Crowd regions are ignored as COCO
does. With keypoints, a flip renames them by ``flip_perm`` (left and right swap).
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from regionlab.data.detection_transforms import Frame
from regionlab.data.errors import DataError
from regionlab.data.sample import Sample
from regionlab.eval.detection import coco_evaluate
from regionlab.models.instance.mask_rcnn import MaskSpec, build_mask_rcnn
from regionlab.ops.detections import Detections
from regionlab.tasks.common import split_spec_dict
from regionlab.tasks.detection import DetectionTask

# OKS constant for keypoints without COCO's own: about the mean of COCO's 17.
DEFAULT_SIGMA = 0.07


def unletterbox_masks(masks: Tensor, frame: Frame) -> Tensor:
    """``(N, S, S)`` masks in the letterboxed frame -> ``(N, orig_h, orig_w)``: each original
    pixel centre is looked up bilinearly at its letterboxed position (``x * scale + pad``)."""
    n, s_h, s_w = masks.shape
    h, w = frame.orig_h, frame.orig_w
    if n == 0:
        return masks.new_zeros((0, h, w))
    xs = ((torch.arange(w, dtype=torch.float32) + 0.5) * frame.scale_x + frame.pad_x) / s_w
    ys = ((torch.arange(h, dtype=torch.float32) + 0.5) * frame.scale_y + frame.pad_y) / s_h
    grid = torch.stack([xs[None].expand(h, w), ys[:, None].expand(h, w)], -1) * 2 - 1
    out = F.grid_sample(masks[:, None].float(), grid[None].expand(n, h, w, 2).to(masks.device),
                        mode="bilinear", align_corners=False)  # fmt: skip
    return out[:, 0]


class InstanceTask(DetectionTask):
    """``spec``: a :class:`MaskSpec`; the rest as :class:`DetectionTask`."""

    name = "instance"
    main_metric = "mask_AP"
    masks = True

    def __init__(
        self,
        spec: MaskSpec,
        size: int,
        classes: list[str],
        flip_perm: list[int] | None = None,
        oks_sigmas: list[float] | None = None,
        skeleton: list[list[int]] | None = None,
        **kw,
    ) -> None:
        super().__init__(spec, size, classes, **kw)
        k = spec.keypoints
        if flip_perm is not None and sorted(flip_perm) != list(range(k)):
            raise ValueError(f"flip_perm must permute 0..{k - 1}, got {flip_perm}")
        if k and oks_sigmas is not None and len(oks_sigmas) != k:
            raise ValueError(f"{len(oks_sigmas)} OKS sigmas for {k} keypoints")
        if k and k != 17 and oks_sigmas is None:
            oks_sigmas = [DEFAULT_SIGMA] * k  # COCO's own apply to its 17 keypoints only
        self.keypoints = k > 0
        self.flip_perm = list(flip_perm) if flip_perm is not None else None
        self.oks_sigmas = list(oks_sigmas) if oks_sigmas is not None else None
        self.skeleton = [list(p) for p in skeleton or []]

    def spec_dict(self) -> dict:
        return {**super().spec_dict(), "flip_perm": self.flip_perm, "oks_sigmas": self.oks_sigmas,
                "skeleton": self.skeleton}  # fmt: skip

    @classmethod
    def from_spec_dict(cls, d: dict) -> InstanceTask:
        spec, rest = split_spec_dict(d, MaskSpec)
        return cls(spec, **rest)

    @staticmethod
    def check_sample(sample: Sample) -> None:
        if sample.masks is None and len(sample.labels):
            where = sample.path or f"image {sample.image_id}"
            raise DataError(where, "has objects without masks (instance segmentation needs them)")

    def build_model(self) -> nn.Module:
        return build_mask_rcnn(self.spec)

    def metrics(self, preds: list[Detections], gts: list[Detections], sizes: list) -> dict:
        """Box metrics (``AP``, ...), mask metrics (``mask_AP``, ...) and, with a keypoint head,
        keypoint OKS metrics (``kp_AP``, ...)."""
        out = {k: float(v) for k, v in coco_evaluate(preds, gts, sizes, self.classes).items()}
        segm = coco_evaluate(preds, gts, sizes, self.classes, iou_type="segm")
        out.update({f"mask_{k}": float(v) for k, v in segm.items()})
        if self.keypoints:
            kp = coco_evaluate(preds, gts, sizes, self.classes, iou_type="keypoints",
                               sigmas=self.oks_sigmas)  # fmt: skip
            out.update({f"kp_{k}": float(v) for k, v in kp.items()})
        return out

    @staticmethod
    def scored(det: Detections) -> Detections:
        """Masks thresholded at 0.5 at once: a validation set's float masks at full resolution
        would take gigabytes."""
        return replace(det, masks=det.masks >= 0.5)

    @staticmethod
    def to_original(det: Detections, frame: Frame) -> Detections:
        """Boxes, masks (float probabilities) and keypoints in the image's own pixels."""
        masks = unletterbox_masks(det.masks, frame) if det.masks is not None else None
        return replace(DetectionTask.to_original(det, frame), masks=masks)
