"""The ``regionlab`` command: the only place that turns user input into objects.

Nothing heavy is imported at module level, so ``regionlab --help`` and argument errors answer
at once; each command imports torch and the models it needs when it runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from regionlab import __version__
from regionlab.cli.common import (
    HelpFormatter,
    add_budget_flags,
    add_data_flags,
    add_growth_flags,
    check_data,
    classes_of,
    free_dir,
    is_main_process,
    split,
    train_config,
)
from regionlab.cli.proposals import add_parser as add_proposals_parser
from regionlab.cli.specs import USAGE, open_dataset, parse_spec
from regionlab.cli.tasks import TASKS, TaskCLI

DESCRIPTION = """\
Train, evaluate and compare the classic "beyond classification" vision models on your CPU:
semantic segmentation, classification + localization, keypoint regression, object detection
(sliding window, single-shot grid detector, R-CNN, Fast and Faster R-CNN) and image captioning,
with growing networks, on built-in synthetic scenes (no download) or your own COCO / VOC / YOLO /
mask-PNG data.

  regionlab demo                                   two minutes: segmentation on scenes
  regionlab train segment --data scenes --minutes 5
  regionlab train detect --data voc:my_voc_folder --minutes 15
  regionlab eval runs/segment/best.pt --data scenes
  regionlab predict runs/segment/best.pt photo.jpg --out runs/pred
  regionlab data check voc:my_voc_folder           find every bad file at once
  regionlab proposals eval --data voc:my_voc_folder selective search: recall, MABO, cost

Each command has its own --help."""


# --------------------------------------------------------------------------- train


def _open_training_data(args, cli: TaskCLI):
    """Training and validation sets, decoded and checked for this task before any training
    (the whole of --data before a validation fraction is held out, so every problem shows)."""
    check = cli.task_class().check_sample
    data = open_dataset(args.data, split="train")
    data = check_data(data, args.data, check, args.data_check, "--data")
    train_set, val_set = split(data, args)
    if args.val:
        val_set = check_data(val_set, args.val, check, args.data_check, "--val")
    return train_set, val_set


def cmd_train(args) -> int:
    from regionlab.engine.trainer import fit

    cli = TASKS[args.task]
    train_config(args, cli.recipe)  # a bad flag or config file fails before data is read
    train_set, val_set = _open_training_data(args, cli)
    cfg = train_config(args, cli.recipe_for(train_set, getattr(args, "model", None)))
    task = cli.build(args, train_set)
    out = Path(args.out)
    result = fit(task, train_set, val_set, cfg, out, resume=args.resume)
    if result.is_main:
        _summarise(out, result, task, cfg)
        print(f"done: {result.steps} steps in {result.seconds:.0f} s; outputs in {out}/")
    return 0


def _summarise(out: Path, result, task, cfg, extra: dict | None = None) -> None:
    """``metrics.json`` and ``learning_curve.png`` of a finished run (rank 0 only)."""
    from regionlab.engine.checkpoint import write_text_atomic
    from regionlab.engine.metrics_log import read_rows, series
    from regionlab.viz.plots import learning_curve

    rows = read_rows(out / "metrics.jsonl")
    learning_curve(
        series(rows, "train", "loss"),
        {f"val {task.main_metric}": series(rows, "val", task.main_metric)},
        out / "learning_curve.png",
        val_loss=series(rows, "val", "loss"),
        title=f"{task.name}: {out.name}",
    )
    summary = {
        "task": task.name,
        "spec": task.spec_dict(),
        "config": cfg.to_dict(),
        "steps": result.steps,
        "train_seconds": round(result.seconds, 1),
        "final": result.metrics,
        "best": result.best,
        **({"growth_not_applied": result.growth_not_applied} if result.growth_not_applied else {}),
        **(extra or {}),
    }
    write_text_atomic(out / "metrics.json", json.dumps(summary, indent=2))


# --------------------------------------------------------------------------- eval / predict


def _load(ckpt_path: str):
    from regionlab.engine.checkpoint import CheckpointError, load_checkpoint
    from regionlab.engine.growing import model_from_checkpoint

    ckpt = load_checkpoint(ckpt_path)
    cli = TASKS.get(ckpt["task"])
    if cli is None:
        raise CheckpointError(f"{ckpt_path}: unknown task {ckpt['task']!r}")
    task = cli.task_class().from_spec_dict(ckpt["spec"])
    model = model_from_checkpoint(task, ckpt)
    model.eval()
    return cli, task, model, ckpt


def _device(name: str | None):
    import torch

    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def cmd_eval(args) -> int:
    from regionlab.engine.config import TrainConfig
    from regionlab.engine.trainer import evaluate

    cli, task, model, ckpt = _load(args.checkpoint)
    if args.beam is not None:
        if not hasattr(task, "beam"):
            raise ValueError(f"--beam is for caption checkpoints; {args.checkpoint} is {cli.name}")
        if args.beam < 1:
            raise ValueError(f"--beam must be >= 1, got {args.beam}")
        task.beam = args.beam
    data = open_dataset(args.data, split="val")
    if task.classes and classes_of(data) != task.classes:  # captioning has no classes
        raise ValueError(
            f"{args.checkpoint} was trained on classes {task.classes}, but "
            f"{args.data} has {classes_of(data)}"
        )
    data = check_data(data, args.data, cli.task_class().check_sample, args.data_check)
    cfg = TrainConfig.from_dict(
        {**ckpt["config"], "eval_batch_size": args.batch_size, "progress": False}
    )
    device = _device(args.device)
    metrics = evaluate(task, model.to(device), data, cfg, device)
    text = json.dumps(metrics, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    if args.save_json:
        if cli.export is None:
            raise ValueError(f"--save-json: {cli.name} checkpoints have no results format")
        n = cli.export(task, model.to(device), data, args.save_json)
        print(f"wrote {n} results to {args.save_json}")
    return 0


def cmd_predict(args) -> int:
    from regionlab.data.io import load_image

    cli, task, model, _ = _load(args.checkpoint)
    if args.text and not cli.reads_text:
        raise ValueError(f"--text is for align checkpoints; {args.checkpoint} is a {cli.name} one")
    if cli.reads_text and not args.text:
        raise ValueError(f"{args.checkpoint} aligns a sentence with each image: give --text")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    records = []
    for path in args.images:
        img = load_image(path)
        dest = out / (Path(path).stem + "_pred.png")
        text = {"text": args.text} if args.text else {}
        cli.draw(task, model, img, **text).save(dest)
        print(dest)
        if cli.records is not None:
            records += cli.records(task, model, img, Path(path).name, **text)
    if cli.records is not None:
        (out / "predictions.json").write_text(json.dumps(records, indent=1))
        print(out / "predictions.json")
    return 0


# --------------------------------------------------------------------------- tune


def cmd_tune(args) -> int:
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
    cfg = train_config(args, cli.recipe_for(data, getattr(args, "model", None)))
    metric = args.metric or cli.build(args, data).main_metric

    def make_task(weight: float):
        return cli.build(argparse.Namespace(**{**vars(args), "loss_weight": weight}), data)

    out = free_dir(Path(args.out or f"runs/tune-{args.task}"))
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


# --------------------------------------------------------------------------- data


def cmd_data_show(args) -> int:
    from regionlab.viz.draw import draw_sample

    ds = open_dataset(args.spec)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    classes = classes_of(ds)
    for i in range(min(args.n, len(ds))):
        dest = out / f"sample_{i:03d}.png"
        draw_sample(ds[i], classes).save(dest)
        print(dest)
    return 0


def cmd_data_check(args) -> int:
    """Every problem of a dataset at once: what its reader refuses and what fails to decode."""
    import warnings

    from regionlab.data.errors import DataError
    from regionlab.data.scan import scan

    kind, _, opts = parse_spec(args.spec)
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the skip report is printed below instead
            ds = open_dataset(args.spec, **({} if kind == "scenes" else {"skip_bad": True}))
    except DataError as e:  # structural: the whole file is unusable
        print(f"{args.spec}: 1 problem\n  - {e}")
        return 1
    problems = list(getattr(ds, "skipped", None).errors if hasattr(ds, "skipped") else [])
    check = TASKS[args.task].task_class().check_sample if args.task else None
    report = scan(ds, check)
    problems += report.problems
    total = len(ds) + (len(problems) - len(report.problems))
    print(
        f"{args.spec}: {len(ds)} samples read and decoded in {time.perf_counter() - t0:.1f} s"
        + (f", checked for {args.task}" if args.task else "")
    )
    if not problems:
        print("no problems found")
        return 0
    print(f"{len(problems)} problem(s) in {total} samples:")
    for e in problems:
        print(f"  - {e}")
    return 1


# --------------------------------------------------------------------------- demo


def cmd_demo(args) -> int:
    from regionlab.engine.config import TrainConfig
    from regionlab.engine.trainer import fit
    from regionlab.models.segmentation.builders import SegmentationSpec
    from regionlab.tasks.segmentation import SegmentationTask, median_frequency_weights
    from regionlab.viz.draw import overlay_panels

    out = free_dir(Path(args.out))
    print(
        f"regionlab demo: encoder-decoder segmentation on built-in scenes, "
        f"{args.minutes:g} min of training, writing {out}/"
    )
    size = args.size
    data = f"scenes:size={size}"
    train_set, val_set = open_dataset(data, split="train"), open_dataset(data, split="val")
    # Right-sized for a 2-core CPU: a narrow encoder, the cheapest learned upsampler (2x2
    # transposed convolution, no overlaps) and a loss that weighs the shape classes like mIoU
    # does (median-frequency class weights plus soft Dice). Chosen by measurement; see the
    # closing note of the foundation issue.
    weights = median_frequency_weights(train_set, len(train_set.classes))
    spec = SegmentationSpec(
        num_classes=len(train_set.classes),
        widths=[16, 32, 64, 128],
        upsampler="transposed",
        kernel=2,
        class_weights=weights,
        dice=1.0,
    )
    task = SegmentationTask(spec, (size, size), train_set.classes, scale=(1.0, 1.0))
    cfg = TrainConfig(
        epochs=None,
        minutes=args.minutes,
        batch_size=16,
        lr=2e-3,
        eval_every=1,
        progress=not args.quiet,
    )
    t0 = time.perf_counter()
    result = fit(task, train_set, val_set, cfg, out)
    wall = time.perf_counter() - t0
    # Panels: image | ground truth | prediction, for the first validation scenes.
    _, _, model, _ = _load(str(out / "last.pt"))
    pred_dir = out / "predictions"
    pred_dir.mkdir(exist_ok=True)
    for i in range(6):
        s = val_set[i]
        pred = task.predict(model, s.image[None].float() / 255)[0]
        overlay_panels(
            s.image, [("truth", s.semantic), ("prediction", pred)], task.classes, True, zoom=4
        ).save(pred_dir / f"val_{i:02d}.png")
    _summarise(out, result, task, cfg, {"wall_seconds": round(wall, 1)})
    m = result.metrics
    print(
        f"validation mIoU {m['miou']:.3f}, pixel accuracy {m['pixel_acc']:.3f} "
        f"after {result.steps} steps ({result.seconds:.0f} s of training)"
    )
    print(
        f"wrote {out}/metrics.json, {out}/learning_curve.png, {pred_dir}/val_*.png "
        "(image | truth | prediction), checkpoints last.pt and best.pt"
    )
    return 0


# --------------------------------------------------------------------------- parser


def _sub(group, name: str, **kw) -> argparse.ArgumentParser:
    return group.add_parser(name, formatter_class=HelpFormatter, **kw)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="regionlab", description=DESCRIPTION, formatter_class=HelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"regionlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = _sub(sub, "demo", help="train and evaluate a segmentation model on built-in scenes")
    p.add_argument("--minutes", type=float, default=2.0, help="training budget")
    p.add_argument("--size", type=int, default=64, help="scene size in pixels")
    p.add_argument("--out", default="runs/demo", help="output folder (never overwritten)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_demo)

    train = _sub(sub, "train", help="train a model").add_subparsers(
        dest="task", required=True, metavar="TASK"
    )
    for cli in TASKS.values():
        p = _sub(train, cli.name, help=cli.help, description=cli.description or cli.help)
        add_data_flags(p, cli.name)
        add_budget_flags(p, cli.recipe, cli.photo_recipe, cli.model_recipes)
        add_growth_flags(p)
        cli.add_flags(p)
        p.set_defaults(func=cmd_train, task=cli.name)

    tune = _sub(sub, "tune", help="choose hyper-parameters by cross-validation")
    tune = tune.add_subparsers(dest="what", required=True, metavar="WHAT")
    lw = _sub(
        tune,
        "loss-weight",
        help="k-fold cross-validate a task metric over loss weights lambda",
        description="Train one model per (lambda, fold) and score the held-out fold. "
        "--epochs gives every run the same number of steps; --minutes the same time.",
    ).add_subparsers(dest="task", required=True, metavar="TASK")
    for cli in (c for c in TASKS.values() if c.tunable):
        p = _sub(lw, cli.name, help=cli.help)
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

    p = _sub(sub, "eval", help="evaluate a checkpoint on a dataset")
    p.add_argument("checkpoint", help="a best.pt or last.pt of a run")
    p.add_argument("--data", required=True, help=USAGE)
    p.add_argument("--batch-size", type=int, default=8, help="images per forward pass")
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N (default: auto)")
    p.add_argument("--out", help="also write the metrics to this JSON file")
    p.add_argument("--beam", type=int, help="caption checkpoints: beam width (1: greedy; "
                   "default: the checkpoint's)")  # fmt: skip
    p.add_argument(
        "--save-json",
        metavar="PATH",
        help="also write the predictions as COCO results JSON (detection)",
    )
    p.add_argument(
        "--data-check",
        choices=["auto", "full", "off"],
        default="auto",
        help="decode every sample first",
    )
    p.set_defaults(func=cmd_eval)

    p = _sub(sub, "predict", help="draw a checkpoint's predictions for image files")
    p.add_argument("checkpoint", help="a best.pt or last.pt of a run")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--out", required=True, help="folder for the PNGs")
    p.add_argument("--text", help="a sentence to align with each image (align checkpoints)")
    p.set_defaults(func=cmd_predict)

    data = _sub(sub, "data", help="inspect and check datasets").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    p = _sub(data, "show", help="render samples with their annotations to PNG")
    p.add_argument("spec", help=USAGE)
    p.add_argument("--out", required=True, help="folder for the PNGs")
    p.add_argument("--n", type=int, default=8, help="how many samples")
    p.set_defaults(func=cmd_data_show)
    p = _sub(
        data,
        "check",
        help="read and decode every sample and list every problem (exit 1 if any)",
    )
    p.add_argument("spec", help=USAGE)
    p.add_argument(
        "--task", choices=list(TASKS), help="also check what this task needs of each sample"
    )
    p.set_defaults(func=cmd_data_check)
    add_proposals_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from regionlab.engine.errors import NonFiniteLossError

    try:
        return args.func(args)
    except (ValueError, FileExistsError, FileNotFoundError, NonFiniteLossError) as e:
        # DataError, DataProblems, SpecError, CheckpointError and GrowthError are ValueErrors.
        if is_main_process():
            print(f"regionlab: error: {e}", file=sys.stderr)
        return 2
    finally:
        if "torch" in sys.modules:
            import torch

            if torch.distributed.is_available() and torch.distributed.is_initialized():
                torch.distributed.destroy_process_group()


if __name__ == "__main__":
    raise SystemExit(main())
