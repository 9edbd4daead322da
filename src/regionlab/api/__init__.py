"""The Python API: the one place that turns user values into runs and predictors (the
``regionlab`` command parses its flags and calls it).

    import regionlab

    summary = regionlab.train("segment", data="scenes", minutes=2, out="runs/seg")
    model = regionlab.load("runs/seg/best.pt")
    results = model.predict("photos/")          # a file, folder, glob, video, PIL image, array...
    results[0].plot().save("first.png")
    metrics = regionlab.evaluate("runs/seg/best.pt", data="scenes")

Names are imported when first used, so ``import regionlab`` stays light (no torch).
"""

from __future__ import annotations

import importlib

# the lowest score a prediction shows by default (the 0.001 of evaluation would draw every
# faint guess)
DEFAULT_CONF = 0.25

_EXPORTS = {
    "load": "regionlab.api.predictor",
    "Predictor": "regionlab.api.predictor",
    "train": "regionlab.api.training",
    "evaluate": "regionlab.api.training",
    "compare": "regionlab.comparison.driver",
    "save_predictions": "regionlab.api.outputs",
    "Result": "regionlab.api.results",
    "DetectionResult": "regionlab.api.results",
    "SegmentationResult": "regionlab.api.results",
    "KeypointResult": "regionlab.api.results",
    "CaptionResult": "regionlab.api.results",
    "AlignmentResult": "regionlab.api.results",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'regionlab.api' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
