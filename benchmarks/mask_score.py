"""Mask R-CNN's test-time mask settings, chosen on the tune splits of finished comparisons and
then scored on their report splits (never used for the choice):

- ``--setting score``: the score masks rank by, the box head's class score (the paper's) or
  that times the mask's maskness (SOLO: the mean probability over the cells the mask keeps).
  ``results/mask_score.json`` was written when maskness re-ranked the boxes too; since the
  masks' score is kept apart (``Detections.mask_scores``), box metrics are equal under both.
- ``--setting threshold``: the probability at which a mask keeps a pixel (the paper's 0.5).

COCO's mask AP ranks detections by their score: a detection whose box is sure but whose mask
hesitates (an occluded person, a box over two) is a false positive for masks ranked high. Both
are inference settings, so they are chosen on checkpoints already trained:

    python benchmarks/mask_score.py /work/bench_width /work/bench_inst_t2/instance-pennfudan-threads2 \\
        --threads 2 [--setting threshold]

For each comparison folder (``regionlab compare instance`` output): every run of ours with a
``best.pt`` is evaluated on the comparison's tune split (``specs.tune``: the images its
``best.pt`` was chosen on, carved from training data) under each value; the value with the
largest mean run-by-run gain in mask AP over the paper's is chosen if that gain is larger than
its sd (else the paper's stays); then every run is scored on the report split
(``specs.report``) under every value, every metric, whichever was chosen. A checkpoint's own
spec says nothing here: the setting is set for each evaluation.
Saved: ``benchmarks/results/mask_<setting>.json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from statistics import stdev

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, save  # noqa: E402
from nms_choice import mean, open_comparison, open_split  # noqa: E402

# each setting's values (as keys: strings) and the paper's among them
SETTINGS = {"score": (("box", "maskness"), "box"),
            "threshold": (("0.3", "0.4", "0.5", "0.6"), "0.5")}  # fmt: skip
SHOWN = ("mask_AP", "mask_AP50", "mask_AP75", "AP", "AP50", "AP75")


def _set(task, model, setting: str, value: str) -> None:
    if setting == "score":
        model.heads["mask"].score = value
    else:  # read by the task's evaluation (task.scored)
        task.spec.mask.threshold = float(value)


def scores(ckpt: Path, data, setting: str = "score") -> dict[str, dict]:
    """Every metric of ``ckpt`` on ``data`` under each value of ``setting``."""
    from regionlab.api.predictor import load_run
    from regionlab.engine.trainer import evaluate

    task, model, run = load_run(ckpt)
    cfg = run.train_config(eval_batch_size=8, progress=False)
    out = {}
    for v in SETTINGS[setting][0]:
        _set(task, model, setting, v)
        out[v] = evaluate(task, model, data, cfg, torch.device("cpu"))
    return out


def choose(tune: list[dict], setting: str = "score") -> tuple[str, float, float]:
    """``(chosen value, the best value's mean run-by-run mask AP gain over the paper's, its
    sd)`` on tune splits."""
    values, base = SETTINGS[setting]
    best = None
    for v in values:
        if v == base:
            continue
        gains = [s[v]["mask_AP"] - s[base]["mask_AP"] for s in tune]
        row = (mean(gains), stdev(gains) if len(gains) > 1 else 0.0, v)
        best = row if best is None or row[0] > best[0] else best
    gain, noise, v = best
    return (v if gain > noise else base), gain, noise


def summary(rows: list[dict], values) -> dict:
    """Mean and sd over runs of every metric, per value."""
    out = {}
    for s in values:
        keys = [k for k, v in rows[0][s].items() if isinstance(v, float)]
        vals = {k: [r[s][k] for r in rows] for k in keys}
        out[s] = {k: {"mean": mean(v), "sd": stdev(v) if len(v) > 1 else 0.0}
                  for k, v in vals.items()}  # fmt: skip
    return out


def plot(report: dict, values, target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(report), figsize=(5 * len(report), 4), squeeze=False)
    w = 0.8 / len(values)
    for ax, (name, by_value) in zip(axes[0], report.items()):
        x = range(len(SHOWN))
        for i, s in enumerate(values):
            m = [by_value[s][k]["mean"] for k in SHOWN]
            sd = [by_value[s][k]["sd"] for k in SHOWN]
            ax.bar([j + w * i for j in x], m, w, yerr=sd, label=s, capsize=2)
        ax.set_xticks([j + 0.4 - w / 2 for j in x], SHOWN, rotation=30, fontsize=8)
        ax.set(title=f"{name}: report split", ylim=(0, 1))
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(target, dpi=110)


def _line(folder: Path, r: dict, split: str, s: dict, values) -> str:
    cells = [f"{k} " + "/".join(f"{s[v][k]:.3f}" for v in values) for k in SHOWN]
    return f"{folder.name} {r['model']}-s{r['seed']} {split} ({'/'.join(values)}) " + " ".join(
        cells
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("folders", nargs="+", type=Path, help="compare instance output folders")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--setting", choices=list(SETTINGS), default="score")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    values, base = SETTINGS[args.setting]

    tune, sets = [], {}
    for folder in args.folders:
        sets[folder], data = open_comparison(folder)
        for r in sets[folder]["runs"]:
            s = scores(r["ckpt"], data, args.setting)
            tune.append({"set": folder.name, "model": r["model"], "seed": r["seed"], **s})
            print(_line(folder, r, "tune", s, values), flush=True)
    chosen, gain, noise = choose(tune, args.setting)
    print(f"chosen: {chosen} (tune mask AP gain {gain:+.4f}, sd {noise:.4f})", flush=True)
    report, by_set = [], {}
    for folder, s in sets.items():
        data = open_split(s["specs"]["report"], s["task"])
        for r in s["runs"]:
            got = scores(r["ckpt"], data, args.setting)
            row = {"set": folder.name, "model": r["model"], "seed": r["seed"], **got}
            report.append(row)
            by_set.setdefault(f"{folder.name}/{r['model']}", []).append(row)
    means = {k: summary(rows, values) for k, rows in by_set.items()}
    name = f"mask_{args.setting}"
    save(name, {"setting": args.setting, "values": values, "paper": base, "chosen": chosen,
                "tune_mask_AP_gain": {"mean": gain, "sd": noise},
                "tune_specs": {f.name: s["specs"]["tune"] for f, s in sets.items()},
                "report_specs": {f.name: s["specs"]["report"] for f, s in sets.items()},
                "tune": tune, "report": report, "report_means": means})  # fmt: skip
    plot(means, values, RESULTS / f"{name}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
