"""Classification + localization: how to weight the two losses, measured.

For one dataset:

1. ``tune``: k-fold cross-validation of localization accuracy over fixed lambdas in
   ``cls + lambda * box`` on the training set (the same code as ``regionlab tune loss-weight``),
   with the lambda the held-out loss alone would have picked;
2. ``compare``: train on the training set, score the validation set, same wall-clock budget
   each: fixed lambda = the cross-validated choice (and, with ``--untuned``, lambda = 1), homoscedastic
   uncertainty weighting (Kendall et al. 2018) and GradNorm (Chen et al. 2018).

Datasets: ``scenes`` (built-in single-object scenes, 64 px, 2000 train / 200 val) and
``raccoon`` (../shared/datasets/raccoon, the 160/40 split of data/*_labels.csv, 128 px).

    python benchmarks/localization.py --dataset scenes --minutes 5 --tune-minutes 0.5 --untuned
    python benchmarks/localization.py --dataset raccoon --minutes 10 --tune-minutes 1

Writes benchmarks/results/localization_<dataset><tag>.json and a PNG of validation
localization accuracy against training seconds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATASETS, RESULTS, save, val_curve  # noqa: E402

from regionlab.data.scenes import SceneConfig, SceneDataset  # noqa: E402
from regionlab.data.voc import VocDataset  # noqa: E402
from regionlab.engine.config import TrainConfig  # noqa: E402
from regionlab.engine.metrics_log import read_rows  # noqa: E402
from regionlab.engine.trainer import fit  # noqa: E402
from regionlab.engine.tune import cross_validate  # noqa: E402
from regionlab.models.localization.builders import LocalizationSpec  # noqa: E402
from regionlab.tasks.localization import LocalizationTask  # noqa: E402
from regionlab.viz.plots import compare_curves, tune_curve  # noqa: E402

SETUPS = {
    "scenes": {"size": 64, "widths": [16, 32, 64, 128], "batch": 32},
    "raccoon": {"size": 128, "widths": [16, 32, 64, 128, 256], "batch": 16},
}


def datasets(name: str):
    if name == "scenes":
        cfg = SceneConfig(size=64, max_objects=1)
        return (
            SceneDataset(2000, seed=0, split="train", config=cfg),
            SceneDataset(200, seed=0, split="val", config=cfg),
        )
    root = DATASETS / "raccoon"
    if not root.is_dir():
        sys.exit(f"{root} not found: the raccoon benchmark needs ../shared/datasets/raccoon")
    kw = {"images": "images", "annotations": "annotations"}
    return (
        VocDataset(root, split="data/train_labels.csv", **kw),
        VocDataset(root, split="data/test_labels.csv", **kw),
    )


def make_task(name: str, classes: list[str], weighting: str = "fixed", weight: float = 1.0):
    s = SETUPS[name]
    spec = LocalizationSpec(
        num_classes=len(classes) - 1,
        widths=s["widths"],
        loss_weight=weight,
        weighting=weighting,
    )
    return LocalizationTask(spec, (s["size"], s["size"]), classes)


def config(name: str, minutes: float, threads: int, eval_every: int) -> TrainConfig:
    return TrainConfig(
        epochs=None,
        minutes=minutes,
        batch_size=SETUPS[name]["batch"],
        eval_batch_size=32,
        lr=2e-3,
        eval_every=eval_every,
        threads=threads,
        progress=False,
    )


def final_weights(run: Path) -> dict:
    train = [r for r in read_rows(run / "metrics.jsonl") if r.get("split") == "train"]
    return {k: v for k, v in train[-1].items() if k.startswith("w_")} if train else {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", choices=sorted(SETUPS), required=True)
    ap.add_argument("--minutes", type=float, default=3.0, help="budget of each compared run")
    ap.add_argument("--tune-minutes", type=float, default=0.5, help="budget of each fold run")
    ap.add_argument("--weights", default="0.1,0.3,1,3,10")
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-tune", type=float, help="use this lambda instead of tuning")
    ap.add_argument("--untuned", action="store_true", help="also run fixed lambda = 1")
    ap.add_argument("--methods", help="subset of fixed,uncertainty,gradnorm to compare")
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    name = args.dataset
    train, val = datasets(name)
    classes = train.classes
    weights = [float(w) for w in args.weights.split(",")]
    result: dict = {
        "dataset": name,
        "setup": SETUPS[name],
        "train": len(train),
        "val": len(val),
        "minutes": args.minutes,
    }
    work = Path(tempfile.mkdtemp(prefix=f"loc_{name}_"))
    print(f"runs in {work}")
    if args.skip_tune is None:
        tune = cross_validate(
            lambda w: make_task(name, classes, "fixed", w),
            train,
            weights,
            args.folds,
            config(name, args.tune_minutes, args.threads, eval_every=1000),
            work / "tune",
            "loc_acc",
        )
        print(tune.table())
        tune_curve(tune.rows, "loc_acc", RESULTS / f"localization_{name}{args.tag}_tune.png")
        result["tune"] = {**tune.to_dict(), "fold_minutes": args.tune_minutes}
        chosen = tune.chosen
    else:
        chosen = args.skip_tune
    runs = {
        f"fixed lambda={chosen:g} (cross-validated)": ("fixed", chosen),
        "fixed lambda=1 (untuned)": ("fixed", 1.0),
        "uncertainty": ("uncertainty", 1.0),
        "gradnorm": ("gradnorm", 1.0),
    }
    if chosen == 1.0 or not args.untuned:
        runs.pop("fixed lambda=1 (untuned)")
    if args.methods:
        keep = args.methods.split(",")
        runs = {k: v for k, v in runs.items() if v[0] in keep}
    eval_every = 1
    compare, curves = {}, {}
    for label, (weighting, w) in runs.items():
        out = work / label.split(" ")[0] / weighting / f"{w:g}"
        task = make_task(name, classes, weighting, w)
        res = fit(task, train, val, config(name, args.minutes, args.threads, eval_every), out,
                  log=lambda m: None)  # fmt: skip
        compare[label] = {
            **{k: round(v, 4) for k, v in res.metrics.items()},
            "best_loc_acc": round(res.best["loc_acc"], 4) if res.best else None,
            "steps": res.steps,
            "train_seconds": round(res.seconds, 1),
            "final_weights": final_weights(out),
        }
        curves[label] = val_curve(out, "loc_acc")
        print(f"{label}: {compare[label]}")
    result["compare"] = compare
    result["curves"] = curves
    compare_curves(
        curves,
        RESULTS / f"localization_{name}{args.tag}.png",
        xlabel="training seconds",
        ylabel="validation localization accuracy",
        title=f"classification + localization on {name}",
    )
    save(f"localization_{name}{args.tag}", result)


if __name__ == "__main__":
    main()
