"""The sections every report has: what ran, the results table (one row per model), the
learning curves and the cost of each model."""

from __future__ import annotations

from regionlab.report import figures
from regionlab.report.gather import Gathered, RunFolder
from regionlab.report.page import Html, image, number, para, section, table, tag, text
from regionlab.report.predict import Predicted, Validation

# metrics of a single run shown in its table besides the main one (the first few scalars)
MAX_COLUMNS = 8


def header(g: Gathered, val: Validation | None, picked: dict[str, RunFolder]) -> Html:
    """Title, command, provenance, which checkpoints and images the page predicted."""
    first = next((r for r in g.runs if r.record), None)
    command = (g.compare or {}).get("command") or (first.record.get("command") if first else None)
    if isinstance(command, list):
        command = " ".join(str(c) for c in command)
    parts = [tag("h1", f"regionlab {g.kind} report: {g.folder.name}")]
    facts = [("task", g.task or "?"), ("main metric", g.main_metric)]
    if command:
        facts.append(("command", tag("code", command)))
    if first:
        versions = first.record.get("versions") or {}
        facts.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items() if v)))
        git = first.record.get("git") or {}
        if git.get("commit"):
            facts.append(
                ("source", f"{git['commit']}{' (uncommitted changes)' if git.get('dirty') else ''}")
            )
    split = (g.compare or {}).get("split")
    if isinstance(split, dict):
        facts.append(("split", ", ".join(f"{k}: {v}" for k, v in split.items())))
    parts.append(table(["", ""], [[k, v] for k, v in facts], text_cols=2))
    if val is not None:
        parts.append(para(_predicted_note(g, val, picked), cls="note"))
    for p in g.problems:
        parts.append(para(p, cls="problem"))
    return Html("".join(parts))


def _predicted_note(g: Gathered, val: Validation, picked: dict[str, RunFolder]) -> str:
    """Which images and checkpoints the figures below come from; in a compare, that they are
    one seed's on part of the images, so they may differ from the table."""
    shown = len(val.samples)
    text = (
        f"Predictions below: the first {shown} of {val.total} validation images of {val.spec}, "
        "each model's checkpoint: "
        + "; ".join(f"{name}: {r.label}, {_source(r)}" for name, r in picked.items())
        + "."
    )
    if g.kind == "compare":
        text += (
            f" The diagnostics below (curves, confusion matrix, AP by size, worst images) are of "
            f"these {shown} images and that one run, so they can differ from the table above "
            f"(all {val.total} images, mean over seeds)."
        )
    return text


def _source(run: RunFolder) -> str:
    if run.checkpoint() is not None:
        return run.checkpoint().name
    if run.predictions_file() is not None:
        return "its stored predictions (predictions.json, the ones scored)"
    return "none"


def _scalar_keys(metrics: dict, main: str) -> list[str]:
    keys = [main] if main in metrics else []
    keys += [k for k, v in metrics.items() if k != main and "/" not in k and isinstance(v, float)]
    return keys[:MAX_COLUMNS]


def results_table(g: Gathered) -> Html:
    """One row per model: a compare's table (mean ± sd over seeds, within noise of the best),
    a run's final metrics."""
    if g.kind == "compare" and isinstance((g.compare or {}).get("table"), list):
        rows_in = [r for r in g.compare["table"] if isinstance(r, dict)]
        keys = list(dict.fromkeys(k for r in rows_in for k in (r.get("metrics") or {})))
        if g.main_metric in keys:
            keys.remove(g.main_metric)
            keys.insert(0, g.main_metric)
        rows = []
        for r in rows_in:
            cells = [r.get("model", "?"), number(r.get("n"))]
            for k in keys:
                m = (r.get("metrics") or {}).get(k) or {}
                best = (r.get("best") or {}).get(k)  # (older files: the best is within noise)
                noise = " (best)" if best else ""
                noise = noise or (" (within noise)" if (r.get("within_noise") or {}).get(k) else "")
                part = f" ({m['n']} of {r['n']})" if m.get("n", r.get("n")) != r.get("n") else ""
                cells.append(f"{number(m.get('mean'))} ± {number(m.get('sd'))}{noise}{part}")
            rows.append(cells)
        body = table(["model", "runs", *keys], rows, id_="results")
        note = para("mean ± sd over seeds; (best): the best mean; (within noise): a gap to the "
                    "best smaller than the larger sd.", cls="note")  # fmt: skip
        return section("Results", body, note, id_="table")
    run = g.runs[0]
    final = run.final_metrics()
    keys = _scalar_keys(final, g.main_metric)
    rows = [[run.label, *(number(final.get(k)) for k in keys)]]
    return section("Results", table(["model", *keys], rows, id_="results"), id_="table")


def curves(g: Gathered) -> Html:
    """The main metric against training seconds and images seen, every run overlaid."""
    by_s = {r.label: r.curve(g.main_metric, "time") for r in g.runs}
    by_i = {r.label: r.curve(g.main_metric, "images") for r in g.runs}
    if not any(by_s.values()) and not any(by_i.values()):
        return section("Learning curves", para("no validation rows in metrics.jsonl", cls="note"))
    uri = figures.learning_curves(by_s, by_i, g.main_metric)
    return section(
        "Learning curves", image(uri, f"validation {g.main_metric} of every run"), id_="curves"
    )


def cost(g: Gathered, predicted: dict[str, Predicted]) -> Html:
    """Per run: parameters, GFLOPs at the training size, training images/s, test ms/image at
    batch 1 (measured by this report), peak memory of training steps."""
    rows = []
    for r in g.runs:
        model = r.record.get("model") or {}
        size = "x".join(str(s) for s in model.get("input") or []) or "?"
        p = predicted.get(r.label)
        ms = f"{p.ms_per_image:.1f} ({p.device})" if p and p.ms_per_image is not None else "—"
        runtime = r.record.get("runtime") or {}
        threads, arithmetic = runtime.get("threads"), (runtime.get("precision") or {}).get("name")
        rows.append([
            r.label, "done (earlier)" if r.status == "skipped" else r.status,
            number(model.get("parameters")),
            "—" if model.get("gflops_per_image") is None  # a peer's or failed run's: no count
            else f"{number(model['gflops_per_image'])} at {size}",
            number(r.train_images_per_second(), 3), number(threads), arithmetic or "—", ms,
            number(r.peak_memory_mb(), 4), number(r.peak_memory_mb("peak_cuda_mb"), 4),
        ])  # fmt: skip
    headers = ["run", "status", "parameters", "GFLOPs / image", "train images/s", "threads",
               "train precision", "test ms/image (batch 1)", "peak train RSS MB",
               "peak train CUDA MB"]  # fmt: skip
    note = para(
        "GFLOPs: one training forward, counted at the first step (a peer: one inference "
        "forward at its input). Train images/s: images seen over training seconds "
        "(evaluation excluded). Train precision: the training step's arithmetic (bf16: under "
        "autocast, on a CPU with AMX for the models measured under it; peers train in fp32). "
        "Test ms/image: the median over the report's images, one at "
        "a time, at the run's threads, measured while this page was written (a peer: by its "
        "own predict, with its pre- and post-processing, at the end of its run). Peak RSS: "
        "the highest of the process's resident memory during a training step (the kernel's "
        "high-water mark, reset at each step's start); peak CUDA: "
        "torch's peak allocation on the GPU (— when not recorded).",
        cls="note",
    )
    return section("Cost", table(headers, rows, id_="cost"), note, id_="cost-section")


def text_list(items: list[str]) -> Html:
    return tag("ul", *(tag("li", i) for i in items)) if items else text("")
