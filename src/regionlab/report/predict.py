"""A run's checkpoint on its validation images: predictions drawn, test time per image at
batch 1, a quality score per image (to find the worst) and the task's diagnostics
(:mod:`regionlab.report.analysis`).

The validation images are those the run validated on (``run.json``'s data specs and
``val_fraction`` / ``seed``), or a compare's report split; only the first ``max_images`` are
predicted, and the page says so.
"""

from __future__ import annotations

import contextlib
import io
import statistics
import time
from argparse import Namespace
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image

from regionlab.report.drawings import DRAW_CONF, draw_prediction, draw_truth
from regionlab.report.gather import RunFolder

__all__ = [
    "DRAW_CONF",
    "Predicted",
    "Validation",
    "peer_predicted",
    "predict_run",
    "validation_set",
]

# the lowest score kept for the curves, as COCO's evaluation keeps nearly all
CURVE_CONF = 0.001


@dataclass
class Validation:
    """The first ``len(samples)`` of ``total`` validation samples, read from ``spec``."""

    spec: str
    samples: list
    total: int
    classes: list[str]


@dataclass
class Predicted:
    """One run's checkpoint on the validation images. ``pictures`` / ``truth``: PIL drawings
    of prediction and ground truth per image; ``quality``: a score per image, lower is worse
    unless ``higher_is_worse`` (``quality_name`` says which), ``None`` when the task has none; ``analysis``: the
    task's diagnostics (:func:`regionlab.report.analysis.analyse`)."""

    checkpoint: Path
    device: str
    ms_per_image: float | None
    pictures: list[Image.Image]
    truth: list[Image.Image]
    names: list[str]
    quality: list[float] | None = None
    quality_name: str = ""
    higher_is_worse: bool = False  # quality is an error count rather than a score
    analysis: dict = field(default_factory=dict)
    captions: list[str] = field(default_factory=list)


def validation_set(run: RunFolder, max_images: int, spec: str | None = None) -> Validation:
    """The validation samples of ``run`` (or of the data spec ``spec``), the first
    ``max_images`` of them."""
    from regionlab.api.prepare import base_dataset, split
    from regionlab.api.specs import open_dataset

    data = run.record.get("data") or {}
    flags = run.record.get("flags") or {}
    if spec is not None:
        val_set, shown = open_dataset(spec, split="val"), spec
    else:
        if not isinstance(data.get("train"), str):
            raise ValueError(
                f"{run.path / 'run.json'}: no training data spec to find its validation images"
            )
        args = Namespace(
            data=data["train"],
            val=data.get("val"),
            val_fraction=flags.get("val_fraction", 0.1),
            seed=flags.get("seed"),
        )
        train_set = open_dataset(args.data, split="train") if args.val is None else None
        with contextlib.redirect_stdout(io.StringIO()):  # its "holding out k of n" is training's
            val_set = split(train_set, args)[1]
        shown = args.val or f"{args.data} (validation part)"
    n = min(max_images, len(val_set))
    samples = [val_set[i] for i in range(n)]
    return Validation(
        shown, samples, len(val_set), list(getattr(base_dataset(val_set), "classes", []))
    )


def _name(sample, i: int) -> str:
    return Path(sample.path).name if getattr(sample, "path", "") else f"validation image {i}"


@contextlib.contextmanager
def _threads(n):
    """Torch at the run's own ``n`` threads while its test time is measured (the cost table's
    threads column holds for both times), as it was before afterwards."""
    before = torch.get_num_threads()
    if isinstance(n, int) and n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _timed_predictions(predictor, samples: list, **kw) -> tuple[list, float | None]:
    """One prediction per sample at batch 1, and the median milliseconds of one (the first
    call, which warms caches up, is predicted twice and timed the second time)."""
    out, times = [], []
    if samples:
        predictor.predict(samples[0].image, **kw)  # warm-up
    cuda = predictor.device.type == "cuda"
    for s in samples:
        t = time.perf_counter()
        out.append(predictor.predict(s.image, **kw)[0])
        if cuda:  # the GPU's work done, not merely queued
            torch.cuda.synchronize(predictor.device)
        times.append((time.perf_counter() - t) * 1000)
    return out, statistics.median(times) if times else None


def predict_run(run: RunFolder, val: Validation, device: str | None = None) -> Predicted:
    """Load ``run``'s checkpoint (``best.pt``, else ``last.pt``) and predict ``val``."""
    from regionlab.api.predictor import load
    from regionlab.report.analysis import analyse

    ckpt = run.checkpoint()
    if ckpt is None:
        raise FileNotFoundError(f"{run.path}: no best.pt or last.pt to predict with")
    predictor = load(ckpt, device=device, batch_size=1)
    if val.classes and predictor.classes and val.classes != predictor.classes:
        raise ValueError(f"{ckpt} was trained on classes {predictor.classes}, but the "
                         f"validation images of {val.spec} have {val.classes}")  # fmt: skip
    if predictor.family.detector:
        predictor.conf = CURVE_CONF
    kw = {"on_skip": lambda s: None}
    with torch.no_grad(), _threads((run.record.get("runtime") or {}).get("threads")):
        results, ms = _timed_predictions(predictor, val.samples, **kw)
    pictures = []
    for r in results:
        try:
            pictures.append(draw_prediction(r))
        except ValueError:  # an alignment result draws only with a sentence
            pictures.append(draw_truth("", val.samples[len(pictures)], predictor.classes))
    background = bool(getattr(predictor.task, "background", True))
    truth = [draw_truth(predictor.task_name, s, predictor.classes, background) for s in val.samples]
    out = Predicted(
        ckpt,
        str(predictor.device),
        ms,
        pictures,
        truth,
        [_name(s, i) for i, s in enumerate(val.samples)],
        captions=[getattr(r, "caption", "") for r in results],
    )
    analyse(predictor.task_name, predictor.classes, results, val.samples, out)
    return out


def peer_predicted(run: RunFolder, val: Validation, task: str) -> Predicted:
    """A peer's stored predictions of the report images (``predictions.json``: what its own
    predict gave and our evaluator scored; boxes, or class maps for ``segment``), the first
    ``len(val.samples)`` of them drawn and diagnosed as a checkpoint's are. Its test time is
    the one the peer measured at batch 1 after training (``metrics.json``)."""
    from regionlab.report.analysis import analyse

    path = run.predictions_file()
    if path is None:
        raise FileNotFoundError(f"{run.path}: no predictions.json (a peer's predictions)")
    results = _stored_results(path, val, task)
    ms = run.summary.get("test_ms_per_image")
    out = Predicted(
        path,
        "its own run",
        float(ms) if isinstance(ms, int | float) else None,
        [draw_prediction(r) for r in results],
        [draw_truth(task, s, val.classes, _background(val)) for s in val.samples],
        [_name(s, i) for i, s in enumerate(val.samples)],
    )
    analyse(task, val.classes, results, val.samples, out)
    return out


def _background(val: Validation) -> bool:
    return bool(val.classes) and val.classes[0] == "background"


def _stored_results(path: Path, val: Validation, task: str) -> list:
    """The typed results of the first ``len(val.samples)`` images in ``path``."""
    from regionlab.api.results import DetectionResult, SegmentationResult
    from regionlab.eval.results_file import read_class_maps, read_results

    spec, stored = (read_class_maps if task == "segment" else read_results)(path)
    if spec != val.spec:
        raise ValueError(f"{path} holds predictions of {spec}, not of the page's images {val.spec}")
    if len(stored) < len(val.samples):
        raise ValueError(f"{path} holds {len(stored)} images' predictions, the page shows "
                         f"{len(val.samples)}")  # fmt: skip
    out = []
    for p, s in zip(stored, val.samples):
        base = {"names": val.classes, "path": getattr(s, "path", None), "image": s.image}
        if task == "segment":
            out.append(SegmentationResult(**base, class_map=p, background=_background(val)))
        else:
            out.append(DetectionResult(**base, boxes=p.boxes, labels=p.labels, scores=p.scores,
                                       masks=p.masks))  # fmt: skip
    return out
