"""What an exported file carries besides its graph, and the task it came from.

The same JSON document is stored in an ONNX file's ``metadata_props`` (key ``regionlab``, with
``task``, ``classes`` and ``size`` also under their own keys for other tools) and in a
TorchScript file's ``_extra_files`` (``regionlab.json``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

FORMAT_VERSION = 1
META_KEY = "regionlab"  # ONNX metadata_props key
EXTRA_FILE = "regionlab.json"  # TorchScript _extra_files name


class ExportError(ValueError):
    """A model that cannot be exported (in this format), or a file that is not a regionlab
    export; the message names the file or the model and the reason."""


@dataclass
class ExportMeta:
    """``task``: the task's name (``segment``, ``detect``, ...); ``spec``: ``task.spec_dict()``
    (rebuilds the task without the weights); ``classes``: names (``[]`` for captions);
    ``size``: ``[H, W]`` of the graph's input; ``inputs`` / ``outputs``: the graph's tensor
    names in order; ``format``: ``onnx | torchscript``; ``batch``: the images the graph takes
    per call (``None``: any number)."""

    task: str
    spec: dict
    classes: list[str]
    size: list[int]
    inputs: list[str]
    outputs: list[str]
    format: str
    batch: int | None = 1
    version: int = FORMAT_VERSION
    notes: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str, where: str) -> ExportMeta:
        try:
            d = json.loads(text)
            meta = cls(**d)
        except (ValueError, TypeError) as e:
            raise ExportError(f"{where}: unreadable regionlab metadata ({e})") from None
        if meta.version > FORMAT_VERSION:
            raise ExportError(
                f"{where}: exported by a newer regionlab (format {meta.version}, this one reads "
                f"{FORMAT_VERSION}): upgrade regionlab"
            )
        return meta


def task_classes() -> dict:
    """Task name -> task class (the task table without ``cli/``, which nothing imports)."""
    from regionlab.tasks.alignment import AlignTask
    from regionlab.tasks.captioning import CaptionTask
    from regionlab.tasks.detection import DetectionTask
    from regionlab.tasks.instance import InstanceTask
    from regionlab.tasks.keypoints import KeypointTask
    from regionlab.tasks.localization import LocalizationTask
    from regionlab.tasks.segmentation import SegmentationTask

    classes = (SegmentationTask, LocalizationTask, KeypointTask, DetectionTask, InstanceTask,
               CaptionTask, AlignTask)  # fmt: skip
    return {c.name: c for c in classes}


def task_from_meta(meta: ExportMeta, where: str):
    """The task an exported file was made from (its spec, classes and input size)."""
    cls = task_classes().get(meta.task)
    if cls is None:
        raise ExportError(f"{where}: unknown task {meta.task!r}")
    task = cls.from_spec_dict(meta.spec)
    if meta.task == "caption":
        task.beam = 1  # the exported graph decodes greedily (see wrappers.CaptionExport)
    return task
