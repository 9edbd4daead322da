"""The ``regionlab`` command: the only place that turns user input into objects.

Nothing heavy is imported at module level, so ``regionlab --help`` and argument errors answer
at once; each command imports torch and the models it needs when it runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from regionlab import __version__
from regionlab.cli import datasets, demo, proposals, tune
from regionlab.cli.common import (
    HelpFormatter,
    add_budget_flags,
    add_data_flags,
    add_growth_flags,
    is_main_process,
)
from regionlab.cli.prepare import check_data, classes_of, split, train_config
from regionlab.cli.runs import device, load, summarise
from regionlab.cli.specs import USAGE, open_dataset
from regionlab.cli.taskcli import TaskCLI, add_options, option_values
from regionlab.cli.tasks import TASKS

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
    if args.val is not None:
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
    result = fit(
        task, train_set, val_set, cfg, out, resume=args.resume, record={"flags": vars(args)}
    )
    if result.is_main:
        summarise(out, result, task, cfg)
        print(f"done: {result.steps} steps in {result.seconds:.0f} s; outputs in {out}/")
    return 0


# --------------------------------------------------------------------------- eval / predict


def cmd_eval(args) -> int:
    from regionlab.engine.checkpoint import write_text_atomic
    from regionlab.engine.trainer import evaluate

    cli, task, model, ckpt = load(args.checkpoint)
    options = option_values(args, cli, TASKS.values(), "eval", args.checkpoint)
    if cli.before_eval is not None:
        cli.before_eval(task, options)
    data = open_dataset(args.data, split="val")
    if task.classes and classes_of(data) != task.classes:  # captioning has no classes
        raise ValueError(
            f"{args.checkpoint} was trained on classes {task.classes}, but "
            f"{args.data} has {classes_of(data)}"
        )
    data = check_data(data, args.data, cli.task_class().check_sample, args.data_check)
    cfg = ckpt.train_config(eval_batch_size=args.batch_size, progress=False)
    where = device(args.device)
    model = model.to(where)
    metrics = evaluate(task, model, data, cfg, where)
    text = json.dumps(metrics, indent=2)
    print(text)
    if args.out is not None:
        write_text_atomic(args.out, text + "\n")
    if cli.after_eval is not None:
        cli.after_eval(task, model, data, options)
    return 0


def cmd_predict(args) -> int:
    from regionlab.data.io import load_image
    from regionlab.engine.checkpoint import write_text_atomic

    cli, task, model, _ = load(args.checkpoint)
    options = option_values(args, cli, TASKS.values(), "predict", args.checkpoint)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    records = []
    for path in args.images:
        img = load_image(path)
        dest = out / (Path(path).stem + "_pred.png")
        cli.draw(task, model, img, **options).save(dest)
        print(dest)
        if cli.records is not None:
            records += cli.records(task, model, img, Path(path).name, **options)
    if cli.records is not None:
        write_text_atomic(out / "predictions.json", json.dumps(records, indent=1))
        print(out / "predictions.json")
    return 0


# --------------------------------------------------------------------------- parser


def _sub(group, name: str, **kw) -> argparse.ArgumentParser:
    return group.add_parser(name, formatter_class=HelpFormatter, **kw)


def _add_train(sub) -> None:
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


def _add_eval(sub) -> None:
    p = _sub(sub, "eval", help="evaluate a checkpoint on a dataset")
    p.add_argument("checkpoint", help="a best.pt or last.pt of a run")
    p.add_argument("--data", required=True, help=USAGE)
    p.add_argument("--batch-size", type=int, default=8, help="images per forward pass")
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N (default: auto)")
    p.add_argument("--out", help="also write the metrics to this JSON file")
    p.add_argument(
        "--data-check",
        choices=["auto", "full", "off"],
        default="auto",
        help="decode every sample first",
    )
    add_options(p, TASKS.values(), "eval")
    p.set_defaults(func=cmd_eval)


def _add_predict(sub) -> None:
    p = _sub(sub, "predict", help="draw a checkpoint's predictions for image files")
    p.add_argument("checkpoint", help="a best.pt or last.pt of a run")
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--out", required=True, help="folder for the PNGs")
    add_options(p, TASKS.values(), "predict")
    p.set_defaults(func=cmd_predict)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="regionlab", description=DESCRIPTION, formatter_class=HelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"regionlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo.add_parser(sub)
    _add_train(sub)
    tune.add_parser(sub)
    _add_eval(sub)
    _add_predict(sub)
    datasets.add_parser(sub)
    proposals.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from regionlab.engine.errors import NonFiniteLossError

    try:
        return args.func(args)
    except (ValueError, FileExistsError, FileNotFoundError, NonFiniteLossError, ImportError) as e:
        # DataError, DataProblems, SpecError, CheckpointError and GrowthError are ValueErrors;
        # an ImportError is an optional extra not installed (its message names the extra).
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
