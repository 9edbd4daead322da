"""The detectors' final NMS IoU, chosen on the tune splits of finished comparisons and then
scored on their report splits (never used for the choice).

The grid detector keeps overlapping boxes up to IoU 0.65 and the region detectors (Faster
R-CNN, ...) up to 0.5; Ultralytics validates at 0.7. COCO's AR100 rewards keeping a few more
near-duplicates, AP can lose by them: an inference setting, so it can be chosen on checkpoints
already trained, with no training.

    python benchmarks/nms_choice.py /work/bench_pf/detect-pennfudan \\
        /work/bench_racc/detect-raccoon --threads 2

For each comparison folder (``regionlab compare detect`` output): every run of ours with a
``best.pt`` (the peers have none) is evaluated on the comparison's tune split (``specs.tune``:
the images its ``best.pt`` was chosen on, carved from training data) at every IoU of
``--ious``; per model, the IoU with the highest AP averaged over all its runs in all the
folders is chosen, unless its gain over the model's current default is within noise (the
mean run-by-run gain smaller than its sd: then the default stays); then every run's
``best.pt`` is scored on the report split (``specs.report``) at its default and at that
tune-best IoU, every metric, whichever was chosen.
Saved: ``benchmarks/results/nms_choice.json`` and ``nms_choice.png`` (tune-split AP and AR100
against the IoU, one line per model and set).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine, provenance  # noqa: E402

IOUS = (0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75)


def runs_of(folder: Path) -> list[dict]:
    """The finished runs of ours in a comparison folder (``model``, ``seed``, ``best.pt``):
    trained by it (``done``) or by an earlier call that ``--reuse`` kept (``skipped``)."""
    result = json.loads((folder / "compare.json").read_text())
    out = []
    for r in result["runs"]:
        ckpt = folder / r["dir"] / "best.pt"
        if r["status"] in ("done", "skipped") and ckpt.exists():
            out.append({"model": r["model"], "seed": r["seed"], "ckpt": ckpt})
    return out


def open_comparison(folder: Path) -> tuple[dict, object]:
    """A comparison folder's ``{"runs": runs_of(folder), "specs", "task"}`` (the task rebuilt
    from its first run) and its tune split, opened for that task."""
    from regionlab.api.predictor import load_run

    specs = json.loads((folder / "compare.json").read_text())["specs"]
    runs = runs_of(folder)
    task = load_run(runs[0]["ckpt"])[0]
    return {"runs": runs, "specs": specs, "task": task}, open_split(specs["tune"], task)


def open_split(spec: str, task):
    from regionlab.api.prepare import check_data
    from regionlab.api.specs import open_dataset

    data = open_dataset(spec, split="val")
    return check_data(data, spec, task.check_sample, "auto")


def scores(ckpt: Path, data, ious: list[float]) -> tuple[float, dict[float, dict]]:
    """``(the checkpoint's own final NMS IoU, every metric of ckpt on data at each IoU in
    ious and at its own)``."""
    from regionlab.api.predictor import load_run
    from regionlab.engine.trainer import evaluate

    task, model, run = load_run(ckpt)
    own = float(model.nms_iou)
    cfg = run.train_config(eval_batch_size=8, progress=False)
    out = {}
    for iou in sorted({*ious, own}):
        model.nms_iou = iou
        out[iou] = evaluate(task, model, data, cfg, torch.device("cpu"))
    return own, out


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def top(by_run: list[dict]) -> float:
    """The IoU of the highest tune-split AP averaged over runs."""
    ap = {iou: mean([s[iou]["AP"] for s in by_run]) for iou in by_run[0]}
    return max(ap, key=ap.get)


def choose(tune: dict, defaults: dict) -> dict:
    """Per model, the IoU of the highest mean tune-split AP over all its runs, unless its gain
    over the default is within noise: smaller than the sd over runs of the run-by-run gain
    (then the default stays)."""
    from statistics import stdev

    chosen = {}
    for model, by_run in tune.items():
        best, default = top(by_run), defaults[model]
        gains = [s[best]["AP"] - s[default]["AP"] for s in by_run]
        noise = stdev(gains) if len(gains) > 1 else 0.0
        chosen[model] = best if mean(gains) > noise else default
    return chosen


def plot(tune_rows: list[dict], target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for row in tune_rows:
        for ax, metric in zip(axes, ("AP", "AR100")):
            ious = sorted(float(i) for i in row["mean"])
            ax.plot(ious, [row["mean"][str(i)][metric] for i in ious], marker="o",
                    label=f"{row['model']} on {row['set']}")  # fmt: skip
            ax.set(xlabel="final NMS IoU", ylabel=f"{metric} (tune split, mean of runs)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(target, dpi=110)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+", type=Path, help="compare detect output folders")
    p.add_argument("--ious", default=",".join(map(str, IOUS)))
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    ious = [float(x) for x in args.ious.split(",")]
    tune, defaults, sets, tune_rows = {}, {}, {}, []
    for folder in args.folders:
        sets[folder], data = open_comparison(folder)
        runs = sets[folder]["runs"]
        per_model: dict[str, list] = {}
        for r in runs:
            own, s = scores(r["ckpt"], data, ious)
            defaults.setdefault(r["model"], own)
            tune.setdefault(r["model"], []).append(s)
            per_model.setdefault(r["model"], []).append(s)
            print(f"{folder.name} {r['model']}-s{r['seed']} tune AP "
                  + " ".join(f"{i:g}:{s[i]['AP']:.3f}" for i in sorted(s)), flush=True)  # fmt: skip
        for model, by_run in per_model.items():
            m = {str(i): {k: mean([s[i][k] for s in by_run]) for k in ("AP", "AP50", "AR100")}
                 for i in by_run[0]}  # fmt: skip
            tune_rows.append({"set": folder.name, "model": model, "mean": m})
    chosen, best = choose(tune, defaults), {m: top(by_run) for m, by_run in tune.items()}
    print("chosen:", chosen, "tune-best:", best, "defaults:", defaults, flush=True)
    report = []
    for folder, s in sets.items():
        data = open_split(s["specs"]["report"], s["task"])
        for r in s["runs"]:
            m = r["model"]
            got = scores(r["ckpt"], data, [best[m]])[1]
            report.append({"set": folder.name, "model": m, "seed": r["seed"],
                           "default": got[defaults[m]], "tune_best": got[best[m]]})  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {"provenance": provenance(), "machine": machine(), "ious": ious,
           "defaults": defaults, "tune_best": best, "chosen": chosen,
           "tune_split_means": tune_rows,
           "tune_specs": {f.name: s["specs"]["tune"] for f, s in sets.items()},
           "report": report}  # fmt: skip
    target = RESULTS / "nms_choice.json"
    target.write_text(json.dumps(out, indent=1) + "\n")
    plot(tune_rows, RESULTS / "nms_choice.png")
    print(f"saved {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
