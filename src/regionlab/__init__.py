"""regionlab: the classic beyond-classification vision methods in one small PyTorch codebase.

Python usage (see :mod:`regionlab.api`)::

    import regionlab

    regionlab.train("detect", data="scenes", minutes=2, out="runs/det")
    model = regionlab.load("runs/det/best.pt", conf=0.25)
    for r in model.predict("photos/*.jpg"):
        print(r.path, r.boxes, r.class_names, r.scores)
    regionlab.evaluate("runs/det/best.pt", data="scenes")

Rooms (see ARCHITECTURE.md): ``data`` (readers, scene generator, one ``Sample``), ``ops``
(building blocks), ``models`` (one folder per task), ``eval`` (metrics), ``engine`` (training
loop, checkpoints), ``tasks`` (binds a model family to the engine), ``growth`` (Net2Net /
Network Morphism), ``viz`` (drawing), ``api`` (the Python API), ``cli`` (the ``regionlab``
command). The API's names are imported when first used: ``import regionlab`` imports no torch.
"""

from __future__ import annotations

__version__ = "0.1.0"

_API = (
    "load",
    "train",
    "evaluate",
    "compare",
    "Predictor",
    "Result",
    "DetectionResult",
    "SegmentationResult",
    "KeypointResult",
    "CaptionResult",
    "AlignmentResult",
)
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        import regionlab.api

        return getattr(regionlab.api, name)
    raise AttributeError(f"module 'regionlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
