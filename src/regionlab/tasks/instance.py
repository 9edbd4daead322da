"""Instance segmentation as an engine task: the detection task with masks (Mask R-CNN).

Everything a sample goes through is the detection task's (letterbox, mosaic, scale, flip,
colour jitter: the augmentations move the masks with the boxes); targets now carry ``masks``.
Evaluation maps each predicted mask back to the image's own pixels and scores boxes *and*
masks with COCO AP (faster-coco-eval, identical to pycocotools): box metrics under their COCO
names (``AP``, ``AP50``, ...), mask metrics as ``mask_AP``, ``mask_AP50``, ... (the main
metric ``mask_AP``). Crowd regions are ignored as COCO does.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from regionlab.data.detection_transforms import Frame, unletterbox
from regionlab.data.errors import DataError
from regionlab.data.sample import Sample
from regionlab.eval.detection import coco_evaluate
from regionlab.models.instance.mask_rcnn import MaskSpec, build_mask_rcnn
from regionlab.ops.detections import Detections
from regionlab.tasks.common import split_spec_dict
from regionlab.tasks.detection import DetBatch, DetectionTask


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

    def __init__(self, spec: MaskSpec, size: int, classes: list[str], **kw) -> None:
        super().__init__(spec, size, classes, **kw)

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

    def evaluate(self, model: nn.Module, batches: Iterable[DetBatch], device) -> dict:
        preds, gts, sizes = [], [], []
        loss_sum, parts, n = 0.0, {}, 0
        for batch in batches:
            out = self._call(model, batch, device)
            k = len(batch.ids)
            loss_sum += float(out.loss) * k
            for name, v in out.losses.items():
                parts[name] = parts.get(name, 0.0) + float(v) * k
            n += k
            for det, frame, gt in zip(out.detections, batch.frames, batch.originals):
                d = self.to_original(det.to("cpu"), frame)
                preds.append(Detections(d.boxes, d.labels, d.scores, masks=d.masks >= 0.5))
                gts.append(gt)
                sizes.append((frame.orig_h, frame.orig_w))
        metrics = {k: float(v) for k, v in coco_evaluate(preds, gts, sizes, self.classes).items()}
        segm = coco_evaluate(preds, gts, sizes, self.classes, iou_type="segm")
        metrics.update({f"mask_{k}": float(v) for k, v in segm.items()})
        metrics["loss"] = loss_sum / max(n, 1)
        metrics.update({f"loss_{k}": v / max(n, 1) for k, v in parts.items()})
        return metrics

    @staticmethod
    def to_original(det: Detections, frame: Frame) -> Detections:
        """Boxes and masks (float probabilities) in the image's own pixels."""
        masks = unletterbox_masks(det.masks, frame) if det.masks is not None else None
        return Detections(unletterbox(det.boxes, frame), det.labels, det.scores, masks=masks)
