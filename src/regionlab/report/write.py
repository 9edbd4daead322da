"""``write_report(folder)``: gather a run or compare folder, predict its validation images with
each model's checkpoint, and write one self-contained ``report.html`` there (atomically)."""

from __future__ import annotations

from pathlib import Path

from regionlab.report import sections, task_sections
from regionlab.report.gather import Gathered, RunFolder, gather
from regionlab.report.page import document, para, section
from regionlab.report.predict import (
    DRAW_CONF,
    Predicted,
    Validation,
    peer_predicted,
    predict_run,
    validation_set,
)

NAME = "report.html"
# validation images each model predicts for the page (the page says how many of how many)
MAX_IMAGES = 16


def _picked(g: Gathered) -> dict[str, RunFolder]:
    """One run per model to predict with: the first finished one with a checkpoint, or (a
    peer) with its stored predictions."""
    out: dict[str, RunFolder] = {}
    for r in g.runs:
        drawable = r.checkpoint() is not None or r.predictions_file() is not None
        if r.model not in out and r.finished and drawable:
            out[r.model] = r
    for model in dict.fromkeys(r.model for r in g.runs if r.model not in out):
        g.problems.append(f"{model}: no finished run with a checkpoint or stored predictions: "
                          "not predicted")  # fmt: skip
    return out


def _report_spec(g: Gathered) -> str | None:
    """A compare's report split: ``compare.json``'s ``specs.report`` (``split`` only says in
    words how each split was made); ``None`` (the runs' own validation data) when it has none
    or it is not a data spec."""
    from regionlab.api.specs import SpecError, parse_spec

    specs = (g.compare or {}).get("specs")
    spec = specs.get("report") if isinstance(specs, dict) else None
    if not isinstance(spec, str) or not spec:
        return None
    try:
        parse_spec(spec)
    except SpecError:
        return None
    return spec


def _predict(g: Gathered, picked: dict[str, RunFolder], max_images: int, device):
    """Validation images (once) and each picked model's predictions; a model that cannot
    predict is a problem on the page, not a failed report."""
    val: Validation | None = None
    predicted: dict[str, Predicted] = {}
    if not picked or max_images <= 0:
        return val, predicted
    try:
        val = validation_set(next(iter(picked.values())), max_images, _report_spec(g))
    except (OSError, ValueError) as e:
        g.problems.append(f"validation images could not be read: {e}")
        return None, predicted
    for name, run in picked.items():
        source = run.checkpoint() or run.predictions_file()
        try:
            if run.checkpoint() is None:  # a peer: the predictions it was scored on
                predicted[name] = peer_predicted(run, val, g.task)
            else:
                predicted[name] = predict_run(run, val, device)
        except (OSError, ValueError, RuntimeError) as e:
            g.problems.append(f"{name}: could not predict with {source}: {e}")
    return val, predicted


def build_page(g: Gathered, *, max_images: int = MAX_IMAGES, device=None) -> str:
    """The HTML of ``g``'s report."""
    picked = _picked(g)
    val, predicted = _predict(g, picked, max_images, device)
    by_label = {picked[m].label: p for m, p in predicted.items()}
    classes = (
        val.classes if val and val.classes else next((r.classes for r in g.runs if r.classes), [])
    )
    body = [
        sections.results_table(g),
        sections.curves(g),
        sections.cost(g, by_label),
    ]
    if g.task in ("detect", "instance"):
        body.append(task_sections.detection(predicted, classes))
    if g.task == "segment":
        body.append(task_sections.segmentation(predicted, classes))
    if g.task == "caption":
        body.append(task_sections.captions(predicted))
    drawn = (
        f"Detections drawn from score {DRAW_CONF} on." if g.task in ("detect", "instance") else ""
    )
    body.append(task_sections.side_by_side(predicted, note=drawn))
    body.append(task_sections.worst_images(predicted))
    if not predicted:
        body.append(section("Predictions", para("no checkpoint could predict the validation "
                                                "images (see above)", cls="note")))  # fmt: skip
    head = sections.header(g, val, picked)  # after predicting: it lists the problems met
    return document(f"regionlab report: {g.folder.name}", [head, *body])


def write_report(folder: str | Path, *, max_images: int = MAX_IMAGES, device=None) -> Path:
    """Write ``folder/report.html`` for a training run or compare folder and return its path.

    ``max_images``: validation images each model predicts for the page; ``device``: where
    they are predicted (default: CUDA when there is one)."""
    from regionlab.atomic import write_text_atomic

    g = gather(folder)
    html = build_page(g, max_images=max_images, device=device)
    out = Path(folder) / NAME
    write_text_atomic(out, html)
    return out
