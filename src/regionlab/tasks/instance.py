"""Instance segmentation as an engine task: the detection task with a Mask R-CNN (a class, box,
score and mask for every object; optionally keypoints).

Everything a sample goes through is the detection task's (letterbox, mosaic, scale, flip,
colour jitter: the augmentations move the masks with the boxes); the detector's mask head makes
targets carry ``masks`` and evaluation score them (``mask_AP``, the main metric, next to the box
metrics). What this task adds is the promise: every training object has a mask.
"""

from __future__ import annotations

from regionlab.data.errors import DataError
from regionlab.data.sample import Sample
from regionlab.models.detection.specs import DetectorSpec
from regionlab.tasks.detection import DEFAULT_SIGMA, DetectionTask
from regionlab.tasks.detection_frames import unletterbox_masks

__all__ = ["DEFAULT_SIGMA", "InstanceTask", "unletterbox_masks"]


class InstanceTask(DetectionTask):
    """``spec``: a detector with a mask head (``mask-rcnn``); the rest as
    :class:`DetectionTask`."""

    name = "instance"
    main_metric = "mask_AP"

    def __init__(self, spec: DetectorSpec, size: int, classes: list[str], **kw) -> None:
        if spec.mask is None:
            raise ValueError(f"instance segmentation needs a detector with a mask head "
                             f"(mask-rcnn), got {spec.model!r}")  # fmt: skip
        super().__init__(spec, size, classes, **kw)

    @staticmethod
    def check_sample(sample: Sample) -> None:
        if sample.masks is None and len(sample.labels):
            where = sample.path or f"image {sample.image_id}"
            raise DataError(
                where,
                "has objects without masks (instance segmentation needs them; "
                "a COCO file or YOLO set has masks only when every object has one)",
            )
