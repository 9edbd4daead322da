"""What the Python API knows of each task family: its task class (to rebuild a checkpoint's
task) and how its ``task.predict`` output becomes typed results.

``predict(task, model, batch, frames, **options)`` takes ``batch`` ``float (N, 3, H, W)`` in
``[0, 1]`` (one size) and the :class:`~regionlab.api.inputs.Frame` of each image, and returns
one :class:`~regionlab.api.results.Result` per image. ``options`` are the family's own
(:attr:`Family.options`), e.g. align's ``text``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import torch

from regionlab.api.results import (
    AlignmentResult,
    CaptionResult,
    DetectionResult,
    KeypointResult,
    SegmentationResult,
)


@dataclass(frozen=True)
class Family:
    name: str  # as in checkpoints and on the command line
    task_path: str  # "module:Class" of its task, imported when needed
    predict: Callable[..., list]
    options: tuple[str, ...] = ()  # keyword options of predict
    detector: bool = False  # takes conf / iou / max_det

    def task_class(self) -> type:
        module, _, name = self.task_path.partition(":")
        return getattr(importlib.import_module(module), name)


def _base(task, frame) -> dict:
    return {"names": list(task.classes), "path": frame.path, "image": frame.image,
            "frame": frame.index}  # fmt: skip


def _detections(task, model, batch, frames, conf: float = 0.0) -> list[DetectionResult]:
    out = []
    for det, frame in zip(task.predict(model, batch), frames):
        det = det[det.scores >= conf]
        det = det[det.scores.argsort(descending=True)]
        det = task.scored(det)  # masks kept from their head's threshold
        skeleton = list(getattr(task, "skeleton", None) or [])
        out.append(DetectionResult(**_base(task, frame), boxes=det.boxes, labels=det.labels,
                                   scores=det.scores, masks=det.masks, keypoints=det.keypoints,
                                   skeleton=skeleton, mask_scores=det.mask_scores))  # fmt: skip
    return out


def _localize(task, model, batch, frames) -> list[DetectionResult]:
    # one object per image by definition: no score threshold, its best guess is the answer
    p = task.predict(model, batch)
    return [DetectionResult(**_base(task, f), boxes=p["boxes"][i : i + 1],
                            labels=p["labels"][i : i + 1], scores=p["scores"][i : i + 1])
            for i, f in enumerate(frames)]  # fmt: skip


def _segment(task, model, batch, frames) -> list[SegmentationResult]:
    maps = task.predict(model, batch)
    return [SegmentationResult(**_base(task, f), class_map=m, background=task.background)
            for m, f in zip(maps, frames)]  # fmt: skip


def _keypoints(task, model, batch, frames) -> list[KeypointResult]:
    p = task.predict(model, batch)
    return [KeypointResult(**_base(task, f), keypoints=p["keypoints"][i],
                           visible=p["visible"][i], skeleton=list(task.skeleton))
            for i, f in enumerate(frames)]  # fmt: skip


def _caption(task, model, batch, frames, beam: int | None = None) -> list[CaptionResult]:
    texts = task.predict(model, batch, beam=beam)
    return [CaptionResult(**_base(task, f), caption=t) for t, f in zip(texts, frames)]


def _align(task, model, batch, frames, text: str | None = None) -> list[AlignmentResult]:
    recs = task.predict(model, batch, sentence=text or None)
    return [AlignmentResult(**_base(task, f), boxes=r["boxes"], text=text or None,
                            words=r.get("words", []), score=r.get("score"))
            for r, f in zip(recs, frames)]  # fmt: skip


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("segment", "regionlab.tasks.segmentation:SegmentationTask", _segment),
        Family("localize", "regionlab.tasks.localization:LocalizationTask", _localize),
        Family("keypoints", "regionlab.tasks.keypoints:KeypointTask", _keypoints),
        Family(
            "detect",
            "regionlab.tasks.detection:DetectionTask",
            _detections,
            ("conf",),
            detector=True,
        ),  # fmt: skip
        Family(
            "instance",
            "regionlab.tasks.instance:InstanceTask",
            _detections,
            ("conf",),
            detector=True,
        ),  # fmt: skip
        Family("caption", "regionlab.tasks.captioning:CaptionTask", _caption, ("beam",)),
        Family("align", "regionlab.tasks.alignment:AlignTask", _align, ("text",)),
    )
}


def drawer(task, fam: Family, conf: float = 0.25) -> Callable:
    """``draw(model, image) -> PIL image``: a ``uint8 (3, H, W)`` image's prediction drawn as
    :meth:`Result.plot` draws it (detectors: scores from ``conf``). The engine's optional
    ``task.draw`` (TensorBoard's preview images of a run)."""
    from regionlab.api.inputs import Frame

    def draw(model: torch.nn.Module, image: torch.Tensor):
        model.eval()
        kw = {"conf": conf} if fam.detector else {}
        with torch.no_grad():
            (r,) = fam.predict(task, model, image[None].float().div(255), [Frame(image)], **kw)
        return r.plot()

    return draw


def family(name: str, what: str = "checkpoint") -> Family:
    """The family called ``name``; an unknown one is an error naming ``what`` and the choices."""
    if name not in FAMILIES:
        raise ValueError(f"{what}: unknown task {name!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[name]


def set_detector_limits(model: torch.nn.Module, conf, iou, max_det) -> None:
    """A detector's own score threshold, NMS IoU and detections per image, where given (they
    act before the top-``max_det`` cut, so a low-score flood cannot push good boxes out)."""
    for attr, value in (("score_thresh", conf), ("nms_iou", iou), ("max_det", max_det)):
        if value is not None:
            if not hasattr(model, attr):
                raise ValueError(f"this detector has no {attr} to set")
            setattr(model, attr, value)
