"""``regionlab tune loss-weight TASK``: k-fold cross-validation of a multi-task loss weight."""

from __future__ import annotations

import argparse
from pathlib import Path

from regionlab.cli.common import HelpFormatter, add_budget_flags, free_dir
from regionlab.cli.prepare import check_data, train_config
from regionlab.cli.specs import USAGE, open_dataset
from regionlab.cli.tasks import TASKS


def add_parser(subparsers) -> None:
    tune = subparsers.add_parser(
        "tune", help="choose hyper-parameters by cross-validation", formatter_class=HelpFormatter
    ).add_subparsers(dest="what", required=True, metavar="WHAT")
    lw = tune.add_parser(
        "loss-weight",
        help="k-fold cross-validate a task metric over loss weights lambda",
        description="Train one model per (lambda, fold) and score the held-out fold. "
        "--epochs gives every run the same number of steps; --minutes the same time.",
        formatter_class=HelpFormatter,
    ).add_subparsers(dest="task", required=True, metavar="TASK")
    for cli in (c for c in TASKS.values() if c.tunable):
        p = lw.add_parser(cli.name, help=cli.help, formatter_class=HelpFormatter)
        p.add_argument("--data", required=True, help=f"data spec: {USAGE}")
        p.add_argument("--weights", default="0.1,0.3,1,3,10", help="comma-separated lambdas")
        p.add_argument("--folds", type=int, default=3, help="cross-validation folds")
        p.add_argument("--metric", help="metric to maximise (default: the task's main metric)")
        p.add_argument("--out", help="output folder (default: runs/tune-TASK, never overwritten)")
        p.add_argument(
            "--keep-checkpoints", action="store_true", help="keep each fold run's checkpoints"
        )
        p.add_argument(
            "--data-check",
            choices=["auto", "full", "off"],
            default="auto",
            help="decode every sample first",
        )
        add_budget_flags(p, cli.recipe, cli.photo_recipe, cli.model_recipes)
        cli.add_flags(p)
        p.set_defaults(func=cmd_tune, task=cli.name)


def cmd_tune(args) -> int:
    from regionlab.api.autodefaults import for_run
    from regionlab.engine.tune import cross_validate
    from regionlab.viz.plots import tune_curve

    cli = TASKS[args.task]
    if args.loss_weighting != "fixed":
        raise ValueError("tune loss-weight chooses a fixed lambda; drop --loss-weighting")
    weights = [float(w) for w in args.weights.split(",") if w]
    if not weights or any(w <= 0 for w in weights) or len(set(weights)) != len(weights):
        raise ValueError(f"--weights must be distinct positive numbers, got {args.weights!r}")
    train_config(args, cli.recipe)
    data = open_dataset(args.data, split="train")
    data = check_data(data, args.data, cli.task_class().check_sample, args.data_check)
    recipe = cli.recipe_for(data, getattr(args, "model", None))
    auto = for_run(args.task, args, data, recipe)  # as `train` does: what is unset, from the data
    args = argparse.Namespace(**{**vars(args), **auto.options})
    cfg = train_config(args, {**recipe, **auto.config})
    metric = args.metric if args.metric is not None else cli.build(args, data).main_metric

    def make_task(weight: float):
        return cli.build(argparse.Namespace(**{**vars(args), "loss_weight": weight}), data)

    out = free_dir(Path(args.out if args.out is not None else f"runs/tune-{args.task}"))
    print(
        f"tuning the loss weight of {args.task}: {len(weights)} values x {args.folds} folds of "
        f"{len(data)} samples, metric {metric}; writing {out}/"
    )
    result = cross_validate(
        make_task,
        data,
        weights,
        args.folds,
        cfg,
        out,
        metric,
        keep_checkpoints=args.keep_checkpoints,
    )
    tune_curve(result.rows, metric, out / "tune.png")
    for fold in sorted(out.glob("lambda=*/fold*")):
        _fold_curve(fold, metric)
    print(result.table())
    print(f"wrote {out}/tune.md, {out}/tune.json, {out}/tune.png")
    return 0


def _fold_curve(run: Path, metric: str) -> None:
    from regionlab.engine.metrics_log import read_rows, series
    from regionlab.viz.plots import learning_curve

    rows = read_rows(run / "metrics.jsonl")
    learning_curve(
        series(rows, "train", "loss"),
        {f"held-out {metric}": series(rows, "val", metric)},
        run / "learning_curve.png",
        val_loss=series(rows, "val", "loss"),
        title=f"{run.parent.name}, {run.name}",
    )
