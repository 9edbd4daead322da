"""The score Mask R-CNN's masks rank by: the box head's class score (the paper's) or that times
the mask's maskness (SOLO: the mean probability over the cells the mask keeps), chosen on the
tune splits of finished comparisons and then scored on their report splits (never used for the
choice). Since the masks' score is kept apart from the boxes' (``Detections.mask_scores``), the
box metrics are the same under both; ``results/mask_score.json`` was written before, when
maskness re-ranked the boxes too.

COCO's mask AP ranks detections by their score: a detection whose box is sure but whose mask
hesitates (an occluded person, a box over two) is a false positive for masks ranked high.
Re-scoring is an inference setting, so it is chosen on checkpoints already trained:

    python benchmarks/mask_score.py /work/bench_width /work/bench_inst_t2/instance-pennfudan-threads2 \\
        --threads 2

For each comparison folder (``regionlab compare instance`` output): every run of ours with a
``best.pt`` is evaluated on the comparison's tune split (``specs.tune``: the images its
``best.pt`` was chosen on, carved from training data) under each score; ``maskness`` is chosen
if its mean run-by-run gain in mask AP over ``box`` is larger than the sd of that gain (else
the paper's ``box`` stays); then every run is scored on the report split (``specs.report``)
under both, every metric, whichever was chosen. A checkpoint's own spec says nothing here: the
head's ``score`` is set for each evaluation.
Saved: ``benchmarks/results/mask_score.json`` and ``mask_score.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from statistics import stdev

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, save  # noqa: E402
from nms_choice import mean, open_split, runs_of  # noqa: E402

SCORES = ("box", "maskness")
SHOWN = ("mask_AP", "mask_AP50", "mask_AP75", "AP", "AP50", "AP75")


def scores(ckpt: Path, data) -> dict[str, dict]:
    """Every metric of ``ckpt`` on ``data`` under each of :data:`SCORES`."""
    from regionlab.api.predictor import load_run
    from regionlab.engine.trainer import evaluate

    task, model, run = load_run(ckpt)
    cfg = run.train_config(eval_batch_size=8, progress=False)
    out = {}
    for s in SCORES:
        model.heads["mask"].score = s
        out[s] = evaluate(task, model, data, cfg, torch.device("cpu"))
    return out


def choose(tune: list[dict]) -> tuple[str, float, float]:
    """``(chosen score, mean run-by-run mask AP gain of maskness, its sd)`` on tune splits."""
    gains = [s["maskness"]["mask_AP"] - s["box"]["mask_AP"] for s in tune]
    noise = stdev(gains) if len(gains) > 1 else 0.0
    return ("maskness" if mean(gains) > noise else "box"), mean(gains), noise


def summary(rows: list[dict]) -> dict:
    """Mean and sd over runs of every metric, per score."""
    out = {}
    for s in SCORES:
        keys = [k for k, v in rows[0][s].items() if isinstance(v, float)]
        vals = {k: [r[s][k] for r in rows] for k in keys}
        out[s] = {k: {"mean": mean(v), "sd": stdev(v) if len(v) > 1 else 0.0}
                  for k, v in vals.items()}  # fmt: skip
    return out


def plot(report: dict, target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(report), figsize=(5 * len(report), 4), squeeze=False)
    for ax, (name, by_score) in zip(axes[0], report.items()):
        x = range(len(SHOWN))
        for i, s in enumerate(SCORES):
            m = [by_score[s][k]["mean"] for k in SHOWN]
            sd = [by_score[s][k]["sd"] for k in SHOWN]
            ax.bar([j + 0.4 * i for j in x], m, 0.4, yerr=sd, label=s, capsize=2)
        ax.set_xticks([j + 0.2 for j in x], SHOWN, rotation=30, fontsize=8)
        ax.set(title=f"{name}: report split", ylim=(0, 1))
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(target, dpi=110)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+", type=Path, help="compare instance output folders")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    tune, sets = [], {}
    for folder in args.folders:
        specs = json.loads((folder / "compare.json").read_text())["specs"]
        runs = runs_of(folder)
        from regionlab.api.predictor import load_run

        task = load_run(runs[0]["ckpt"])[0]
        sets[folder] = {"runs": runs, "specs": specs, "task": task}
        data = open_split(specs["tune"], task)
        for r in runs:
            s = scores(r["ckpt"], data)
            tune.append({"set": folder.name, "model": r["model"], "seed": r["seed"], **s})
            print(f"{folder.name} {r['model']}-s{r['seed']} tune "
                  + " ".join(f"{k}: {s['box'][k]:.3f}->{s['maskness'][k]:.3f}" for k in SHOWN),
                  flush=True)  # fmt: skip
    chosen, gain, noise = choose(tune)
    print(f"chosen: {chosen} (tune mask AP gain {gain:+.4f}, sd {noise:.4f})", flush=True)
    report, by_set = [], {}
    for folder, s in sets.items():
        data = open_split(s["specs"]["report"], s["task"])
        for r in s["runs"]:
            got = scores(r["ckpt"], data)
            row = {"set": folder.name, "model": r["model"], "seed": r["seed"], **got}
            report.append(row)
            by_set.setdefault(f"{folder.name}/{r['model']}", []).append(row)
    means = {k: summary(rows) for k, rows in by_set.items()}
    save("mask_score", {"scores": SCORES, "chosen": chosen,
                        "tune_mask_AP_gain": {"mean": gain, "sd": noise},
                        "tune_specs": {f.name: s["specs"]["tune"] for f, s in sets.items()},
                        "report_specs": {f.name: s["specs"]["report"] for f, s in sets.items()},
                        "tune": tune, "report": report, "report_means": means})  # fmt: skip
    plot(means, RESULTS / "mask_score.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
