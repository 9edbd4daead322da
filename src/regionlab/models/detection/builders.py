"""One typed description of any detector of the library (stored in checkpoints) and its builder.

``DetectorSpec(model="grid", grid=GridSpec(...))``, ``DetectorSpec(model="sliding-window",
window=WindowSpec(...))`` or ``DetectorSpec(model="faster-rcnn", region=RegionSpec(...))``
(also ``rcnn``, ``fast-rcnn``): the model name picks the spec that describes it; no registry,
the builder below says what each name builds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import nn

from regionlab.models.detection.grid import GridSpec, build_grid_detector
from regionlab.models.detection.rcnn import REGION_MODELS, RegionSpec, build_region_detector
from regionlab.models.detection.sliding_window import SlidingWindowDetector, WindowSpec

DETECTORS = ("sliding-window", "grid", *REGION_MODELS)


@dataclass
class DetectorSpec:
    model: str
    grid: GridSpec | None = None
    window: WindowSpec | None = None
    region: RegionSpec | None = None

    def __post_init__(self) -> None:
        # From a checkpoint the nested specs arrive as plain dicts.
        if isinstance(self.grid, dict):
            self.grid = GridSpec(**self.grid)
        if isinstance(self.window, dict):
            self.window = WindowSpec(**self.window)
        if isinstance(self.region, dict):
            self.region = RegionSpec(**{**RegionSpec.LEGACY, **self.region})
        if self.model not in DETECTORS:
            raise ValueError(f"unknown detector {self.model!r}; choose {', '.join(DETECTORS)}")
        if self.part is None:
            raise ValueError(f"detector {self.model!r} needs its spec ({self.model} options)")
        if self.model in REGION_MODELS and self.region.model != self.model:
            raise ValueError(f"detector {self.model!r} with a {self.region.model!r} spec")

    @property
    def part(self):
        """The spec of the chosen model."""
        if self.model in REGION_MODELS:
            return self.region
        return {"grid": self.grid, "sliding-window": self.window}[self.model]

    @property
    def num_classes(self) -> int:
        return self.part.num_classes

    @property
    def fixed_proposals(self) -> bool:
        """Whether the detector's proposals come from a slow, unlearned method cached per image
        (R-CNN, Fast R-CNN): training images must then repeat exactly (flips only)."""
        return self.model in ("rcnn", "fast-rcnn")

    def to_dict(self) -> dict:
        return asdict(self)


def build_detector(spec: DetectorSpec) -> nn.Module:
    if spec.model == "grid":
        return build_grid_detector(spec.grid)
    if spec.model == "sliding-window":
        return SlidingWindowDetector(spec.window)
    return build_region_detector(spec.region)
