"""One typed description of any detector of the library (stored in checkpoints) and its builder.

``DetectorSpec(model="grid", grid=GridSpec(...))`` or ``DetectorSpec(model="sliding-window",
window=WindowSpec(...))``: the model name picks the spec that describes it; no registry, the
builder below says what each name builds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import nn

from regionlab.models.detection.grid import GridSpec, build_grid_detector
from regionlab.models.detection.sliding_window import SlidingWindowDetector, WindowSpec

DETECTORS = ("sliding-window", "grid")


@dataclass
class DetectorSpec:
    model: str
    grid: GridSpec | None = None
    window: WindowSpec | None = None

    def __post_init__(self) -> None:
        # From a checkpoint the nested specs arrive as plain dicts.
        if isinstance(self.grid, dict):
            self.grid = GridSpec(**self.grid)
        if isinstance(self.window, dict):
            self.window = WindowSpec(**self.window)
        if self.model not in DETECTORS:
            raise ValueError(f"unknown detector {self.model!r}; choose {', '.join(DETECTORS)}")
        part = {"grid": self.grid, "sliding-window": self.window}[self.model]
        if part is None:
            raise ValueError(f"detector {self.model!r} needs its spec ({self.model} options)")

    @property
    def num_classes(self) -> int:
        return self.grid.num_classes if self.model == "grid" else self.window.num_classes

    def to_dict(self) -> dict:
        return asdict(self)


def build_detector(spec: DetectorSpec) -> nn.Module:
    if spec.model == "grid":
        return build_grid_detector(spec.grid)
    return SlidingWindowDetector(spec.window)
