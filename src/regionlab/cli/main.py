"""The ``regionlab`` command: parses flags and calls the Python API (:mod:`regionlab.api`),
which turns them into runs and predictors.

Nothing heavy is imported at module level, so ``regionlab --help`` and argument errors answer
at once; each command imports torch and the models it needs when it runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from regionlab import __version__
from regionlab.api import DEFAULT_CONF
from regionlab.api.builders import BUILDERS
from regionlab.cli import compare, datasets, demo, export, proposals, report, tune
from regionlab.cli.common import (
    HelpFormatter,
    add_budget_flags,
    add_data_flags,
    add_growth_flags,
    is_main_process,
)
from regionlab.cli.specs import USAGE
from regionlab.cli.taskcli import add_options, option_values
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
  regionlab predict runs/segment/best.pt photo.jpg photos/ clip.mp4 --out runs/pred
  regionlab compare detect --data scenes --models grid,faster-rcnn --minutes 5 --seeds 3
  regionlab data check voc:my_voc_folder           find every bad file at once
  regionlab proposals eval --data voc:my_voc_folder selective search: recall, MABO, cost
  regionlab report runs/segment                    report.html: curves, cost, diagnostics

Each command has its own --help."""


# --------------------------------------------------------------------------- train

# Exit status of a run stopped because an output could not be written (sysexits' EX_IOERR):
# not 2 (bad input), so a scheduler can tell a full disk from a wrong flag. A run stopped by
# SIGTERM / SIGINT exits 128 + signal (143 / 130) after writing last.pt.
WRITE_FAILED = 74


def cmd_train(args) -> int:
    from regionlab.api.builders import builder
    from regionlab.api.training import run_training, train_options
    from regionlab.engine.config import TrainConfig
    from regionlab.engine.optim import steps_repeat_timed

    flags = {k: v for k, v in vars(args).items() if k not in ("func", "command", "task", "data")}
    summary = run_training(builder(args.task), train_options(args.task, args.data, **flags))
    if is_main_process():
        n, again = summary["steps"], ""
        if (
            args.minutes
            and not args.steps
            and steps_repeat_timed(TrainConfig.from_dict(summary["config"]), n)
        ):
            again = f" (--steps {n} repeats it on any machine)"
        print(f"done: {summary['steps']} steps in {summary['train_seconds']:.0f} s{again}; "
              f"outputs in {args.out}/")  # fmt: skip
    return 0


# --------------------------------------------------------------------------- eval / predict


def cmd_eval(args) -> int:
    from regionlab.api.training import evaluate

    chosen = {}

    def before(task) -> None:  # the checkpoint's family takes these options, or none
        cli = TASKS[task.name]
        chosen.update(cli=cli, options=option_values(args, cli, TASKS.values(), "eval",
                                                     args.checkpoint))  # fmt: skip
        if cli.before_eval is not None:
            cli.before_eval(task, chosen["options"])

    def after(task, model, data, metrics) -> None:
        print(json.dumps(metrics, indent=2))
        if chosen["cli"].after_eval is not None:
            chosen["cli"].after_eval(task, model, data, chosen["options"])

    evaluate(args.checkpoint, args.data, batch_size=args.batch_size, device=args.device,
             data_check=args.data_check, out=args.out, iou=args.iou, before=before,
             after=after)  # fmt: skip
    return 0


def cmd_predict(args) -> int:
    import regionlab
    from regionlab.api.outputs import save_predictions

    predictor = regionlab.load(args.checkpoint, device=args.device, conf=args.conf,
                               iou=args.iou, max_det=args.max_det,
                               batch_size=args.batch_size)  # fmt: skip
    cli = TASKS[predictor.task_name]
    options = option_values(args, cli, TASKS.values(), "predict", args.checkpoint)
    saved = save_predictions(predictor, args.sources, args.out, save_txt=args.save_txt,
                             progress=not args.quiet, exist_ok=args.exist_ok,
                             **options)  # fmt: skip
    if (Path(args.out) / "predictions.json") in saved.files:
        print(Path(args.out) / "predictions.json")
    skipped = (
        f"; skipped {len(saved.skipped)} unreadable input(s), listed above" if saved.skipped else ""
    )
    print(f"predicted {saved.images} image(s) into {args.out}/{skipped}")
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
        # the Python API's defaults are the flags' (regionlab.train(task, **same names))
        api_defaults = BUILDERS[cli.name].defaults if cli.name in BUILDERS else {}
        p.set_defaults(func=cmd_train, task=cli.name, **api_defaults)


def _add_eval(sub) -> None:
    p = _sub(sub, "eval", help="evaluate a checkpoint on a dataset")
    p.add_argument("checkpoint", help="a best.pt or last.pt of a run")
    p.add_argument("--data", required=True, help=USAGE)
    p.add_argument("--batch-size", type=int, default=8, help="images per forward pass")
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N (default: auto)")
    p.add_argument("--out", help="also write the metrics to this JSON file")
    p.add_argument("--iou", type=float,
                   help="detectors: final NMS IoU (default: the checkpoint's; higher keeps more "
                        "overlapping boxes: AR up, AP50 down)")  # fmt: skip
    p.add_argument(
        "--data-check",
        choices=["auto", "full", "off"],
        default="auto",
        help="decode every sample first",
    )
    add_options(p, TASKS.values(), "eval")
    p.set_defaults(func=cmd_eval)


def _add_predict(sub) -> None:
    p = _sub(
        sub,
        "predict",
        help="predict images, folders, globs and videos with a checkpoint",
        description="Writes a drawing of each image (<name>_pred.png; a video's as\n"
        "<name>_pred.mp4), predictions.json (COCO results for detectors; captions, keypoints,\n"
        "alignments), <name>_classes.png class maps (segment), <name>_masks.png instance maps\n"
        "(instance) and, with --save-txt, YOLO labels/<name>.txt. Unreadable inputs are named\n"
        "and skipped, with their count.",
    )
    p.add_argument("checkpoint", help="a best.pt or last.pt of a run, or an exported model")
    p.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="image or video files, folders of them, or globs ('photos/*.jpg')")  # fmt: skip
    p.add_argument("--out", required=True, help="output folder (refused if it holds files)")
    p.add_argument("--exist-ok", action="store_true",
                   help="write into a folder that holds files, replacing same-named ones")  # fmt: skip
    p.add_argument("--conf", type=float, default=DEFAULT_CONF,
                   help="detectors: the lowest score shown and saved")  # fmt: skip
    p.add_argument("--iou", type=float, help="detectors: NMS IoU (default: the checkpoint's)")
    p.add_argument("--max-det", type=int,
                   help="detectors: objects per image (default: the checkpoint's)")  # fmt: skip
    p.add_argument("--save-txt", action="store_true",
                   help="detectors: also write YOLO labels/<name>.txt (class cx cy w h score)")  # fmt: skip
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N (default: auto)")
    p.add_argument("--batch-size", type=int, default=8, help="images per forward pass")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
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
    compare.add_parser(sub)
    datasets.add_parser(sub)
    proposals.add_parser(sub)
    export.add_parser(sub)
    report.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from regionlab.atomic import WriteError
    from regionlab.engine.errors import NonFiniteLossError, Preempted

    try:
        return args.func(args)
    except Preempted as e:  # SIGTERM / SIGINT: last.pt written, exit 128 + signal
        if is_main_process():
            resumable = e.checkpoint and args.command == "train"  # demo, tune: no --resume
            hint = f"; resume with: {_resume_command(argv)}" if resumable else ""
            print(f"regionlab: {e}{hint}", file=sys.stderr)
        return e.exit_status
    except WriteError as e:  # full disk, read-only or forbidden folder: the files as they were
        if is_main_process():
            print(f"regionlab: error: {e}", file=sys.stderr)
        return WRITE_FAILED
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


def _resume_command(argv: list[str] | None) -> str:
    """The command that continues this run: the same one with ``--resume`` (under torchrun,
    its ``-m regionlab ...`` part)."""
    import shlex

    from regionlab.engine.records import command_line

    if argv is None:
        command = command_line(sys.argv)
        args = sys.argv[1:]
    else:
        command, args = shlex.join(["regionlab", *argv]), argv
    if "--resume" not in args:
        command += " --resume"
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        command = f"torchrun (the same options) -m {command.split(' -m ', 1)[-1]}"
    return command


if __name__ == "__main__":
    raise SystemExit(main())
