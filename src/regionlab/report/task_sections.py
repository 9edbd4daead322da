"""The sections of one task family, from each model's :class:`Predicted`: detection PR and
F1 curves, confusion and AP by size; segmentation pixel confusion and per-class IoU; captions;
the same images predicted by every model side by side; each model's worst images."""

from __future__ import annotations

import math

import numpy as np

from regionlab.report import figures
from regionlab.report.analysis import worst
from regionlab.report.page import Html, image, number, para, section, table, tag
from regionlab.report.predict import Predicted

AREAS = ("small", "medium", "large")


def detection(predicted: dict[str, Predicted], classes: list[str]) -> Html:
    """Per model: PR per class at IoU 0.5 and 0.75, F1 against confidence, the confusion
    matrix at IoU 0.5 with the background; AP by object size for every model together."""
    parts, by_size = [per_class_ap(predicted)], {}
    for name, p in predicted.items():
        a = p.analysis
        if "pr" not in a:
            continue
        pr = a["pr"]
        kind = "mask" if a["iou_type"] == "segm" else "box"
        parts.append(tag("h3", name))
        uri = figures.pr_curves(pr.recall, {0.5: pr.at(0.5), 0.75: pr.at(0.75)}, pr.names)
        parts.append(para(f"Precision-recall per class at {kind} IoU 0.5 and 0.75 (COCO's "
                          "interpolated precision, 101 recall points):"))  # fmt: skip
        parts.append(image(uri, f"precision-recall curves of {name}"))
        uri = figures.f1_confidence(a["thresholds"], a["f1"], classes)
        parts.append(para("F1 against the confidence threshold (greedy matching at box IoU 0.5):"))
        parts.append(image(uri, f"F1 against confidence of {name}"))
        names = ["background", *classes[1:]]
        uri = figures.confusion(a["confusion"], names, "predicted", "true")
        parts.append(para(
            f"Confusion at box IoU 0.5, scores >= {a['conf']}: a missed object is "
            "(class, background), a false alarm (background, class)."))  # fmt: skip
        parts.append(image(uri, f"confusion matrix of {name}"))
        for area in AREAS:
            values = pr.ap_by_area.get(area, [])
            finite = [v for v in values if not math.isnan(v)]
            by_size.setdefault(area, {})[name] = sum(finite) / len(finite) if finite else math.nan
    if len(parts) == 1:
        return Html("")
    if by_size:
        rows = [[name, *(number(by_size[a].get(name)) for a in AREAS)] for name in predicted]
        parts.append(tag("h3", "AP by object size (IoU .50:.95, COCO's areas)"))
        parts.append(table(["model", *AREAS], rows, id_="ap-by-size"))
        parts.append(image(figures.bars(by_size, "AP"), "AP by object size of every model"))
    return section("Detection diagnostics", *parts, id_="detection")


def _ap(prec, k: int) -> float:
    column = prec[:, k]
    return math.nan if all(math.isnan(v) for v in column) else float(np.nanmean(column))


def per_class_ap(predicted: dict[str, Predicted]) -> Html:
    """A row per class: AP at IoU 0.5 and 0.75 of each model (COCO's precision arrays)."""
    prs = {n: p.analysis["pr"] for n, p in predicted.items() if "pr" in p.analysis}
    if not prs:
        return Html("")
    names = next(iter(prs.values())).names
    rows = []
    for k, cls in enumerate(names):
        row = [cls]
        for pr in prs.values():
            row += [number(_ap(pr.at(0.5), k)), number(_ap(pr.at(0.75), k))]
        rows.append(row)
    head = ["class", *(f"{n} AP{t}" for n in prs for t in (50, 75))]
    return Html(tag("h3", "AP per class") + table(head, rows, id_="ap-per-class"))


def segmentation(predicted: dict[str, Predicted], classes: list[str]) -> Html:
    """Per-class IoU bars of every model together, and each model's pixel confusion."""
    ious = {c: {} for c in classes}
    parts = []
    for name, p in predicted.items():
        a = p.analysis
        if "pixel_confusion" not in a:
            continue
        for c, v in a["iou"].items():
            ious.setdefault(c, {})[name] = v
        uri = figures.confusion(a["pixel_confusion"], classes, "predicted", "true")
        parts += [tag("h3", f"{name}: pixel confusion"), image(uri, f"pixel confusion of {name}")]
    if not parts:
        return Html("")
    rows = [[c, *(number(ious[c].get(n)) for n in predicted)] for c in classes]
    head = [tag("h3", "IoU per class"), table(["class", *predicted], rows, id_="iou")]
    head.append(image(figures.bars(ious, "IoU"), "IoU per class of every model"))
    return section("Segmentation diagnostics", *head, *parts, id_="segmentation")


def captions(predicted: dict[str, Predicted]) -> Html:
    """The references and every model's caption of each image."""
    first = next((p for p in predicted.values() if "references" in p.analysis), None)
    if first is None:
        return Html("")
    rows = []
    for i, refs in enumerate(first.analysis["references"]):
        row = [first.names[i], tag("ul", *(tag("li", r) for r in refs))]
        row += [p.captions[i] if i < len(p.captions) else "" for p in predicted.values()]
        rows.append(row)
    body = table(
        ["image", "references", *predicted], rows, id_="captions", text_cols=2 + len(predicted)
    )
    return section("Sample captions", body, id_="captions-section")


def side_by_side(predicted: dict[str, Predicted], limit: int = 8, note: str = "") -> Html:
    """The same validation images: ground truth, then each model's prediction."""
    first = next(iter(predicted.values()), None)
    if first is None:
        return Html("")
    rows = []
    for i in range(min(limit, len(first.names))):
        row = [
            first.names[i],
            image(figures.image_uri(first.truth[i]), f"truth of {first.names[i]}", "sample"),
        ]
        for name, p in predicted.items():
            pic = p.pictures[i] if i < len(p.pictures) else None
            row.append(
                image(figures.image_uri(pic), f"{name} on {p.names[i]}", "sample") if pic else "—"
            )
        rows.append(row)
    body = table(["image", "truth", *predicted], rows, id_="side-by-side")
    return section("Predictions side by side", body, para(note, cls="note"), id_="predictions")


def worst_images(predicted: dict[str, Predicted], k: int = 4) -> Html:
    """Each model's ``k`` worst images by its per-image quality."""
    parts = []
    for name, p in predicted.items():
        idx = worst(p.quality, k, p.higher_is_worse)
        if not idx:
            continue
        rows = [[p.names[i], number(p.quality[i]),
                 image(figures.image_uri(p.truth[i]), f"truth of {p.names[i]}", "sample"),
                 image(figures.image_uri(p.pictures[i]), f"{name} on {p.names[i]}", "sample")]
                for i in idx]  # fmt: skip
        parts += [tag("h3", name), table(["image", p.quality_name, "truth", "prediction"], rows)]
    if not parts:
        return Html("")
    return section("Worst images", *parts, id_="worst")
