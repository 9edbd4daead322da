"""``regionlab compare TASK``: flags -> :func:`regionlab.comparison.driver.compare`.

No torch at import (``regionlab --help``)."""

from __future__ import annotations

import argparse

from regionlab.cli.specs import USAGE

DESCRIPTION = """\
Train several models of one task side by side, several seeds each, on the same splits, and
score every run with the task's own evaluator on the same report images. Each (model, seed) is
an ordinary `regionlab train` run in OUT/runs/<model>-s<seed>; OUT/compare.json holds every
run's numbers and the table (mean ± sd over seeds of every metric, and which gaps are within
noise); the table is printed at the end.

  regionlab compare detect --data scenes --models grid,faster-rcnn,sliding-window \\
      --minutes 5 --seeds 3 --parallel 2 --threads 1 --out runs/cmp-det
  regionlab compare segment --data voc:VOC --models "fcn,encdec[--upsampler bilinear]" --minutes 10
  regionlab compare caption --data scenes --models "lstm[--cell lstm],gru[--cell gru]"

--models entries are [LABEL=]MODEL[FLAGS]: MODEL is the run's --model (segment, detect,
instance; for the other tasks only a label), FLAGS that entry's own `train` flags, after
--flags (which every run gets): "faster-rcnn[--size 320 --no-fpn],small=grid[--size 64]"
(quoted: the shell would split the flags and expand the brackets).

Splits: without --val, a seeded --report-fraction of --data is held out and every number is on
it (no run trains on it or chooses anything with it); with --val, the numbers are on --val.
Each run chooses best.pt on a --tune-fraction of --data only. The splits are files in
OUT/splits/ (data spec option :subset=FILE), the same for every model and seed.

Resume: run the same command with --reuse; finished runs are kept, unfinished ones resume from
their last.pt. Runs from another regionlab commit, or from the same one with uncommitted
changes on one side only, are refused unless --allow-mixed-commits.
A run that fails is reported with its log's tail (OUT/logs/), the others go on, and the
command exits with 1."""


def add_parser(sub) -> None:
    from regionlab.cli.common import HelpFormatter
    from regionlab.cli.tasks import TASKS

    p = sub.add_parser(
        "compare",
        help="train several models x seeds on the same splits; mean ± sd table",
        description=DESCRIPTION,
        formatter_class=HelpFormatter,
    )
    p.add_argument("task", choices=list(TASKS), metavar="TASK", help=" | ".join(TASKS))
    p.add_argument("--data", required=True, help=f"data spec: {USAGE}")
    p.add_argument("--val", help="report on this data spec (default: a held-out part of --data)")
    p.add_argument("--models", required=True,
                   help="comma-separated [LABEL=]MODEL[FLAGS] entries (see above)")  # fmt: skip
    p.add_argument("--seeds", type=int, default=3, help="seeds per model: 0..N-1")
    p.add_argument("--minutes", type=float, help="training budget of each run (default: the task's epochs)")  # fmt: skip
    p.add_argument("--parallel", type=int, default=1, help="runs at a time")
    p.add_argument("--threads", type=int,
                   help="torch threads of each run (default: the cores / --parallel)")  # fmt: skip
    p.add_argument(
        "--flags",
        default="",
        help='train flags for every run, e.g. --flags "--size 320" (one flag alone: --flags=--no-fpn)',
    )
    p.add_argument("--out", help="output folder (default: runs/compare-TASK)")
    p.add_argument("--report-fraction", type=float, default=0.2,
                   help="without --val: the part of --data held out for the numbers")  # fmt: skip
    p.add_argument("--tune-fraction", type=float, default=0.1,
                   help="the part of --data each run chooses best.pt on")  # fmt: skip
    p.add_argument("--split-seed", type=int, default=0, help="seed of the splits")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best",
                   help="which checkpoint of each run the table is of (both are scored)")  # fmt: skip
    p.add_argument("--reuse", action="store_true", help="continue the comparison in --out")
    p.add_argument("--allow-mixed-commits", action="store_true",
                   help="with --reuse: count runs trained at another regionlab commit or tree "
                   "state")  # fmt: skip
    p.add_argument("--peers", default="",
                   help="other libraries' models on the same splits, threads and budget, scored by our "
                   "evaluator (needs --minutes): detect: tv-frcnn (torchvision's Faster R-CNN), "
                   "yolo26n, yolov8n; instance: yolo26n-seg, yolov8n-seg (Ultralytics, the bench "
                   "extra); segment: tv-lraspp (torchvision's LR-ASPP), smp-unet (the bench extra)")  # fmt: skip
    p.add_argument("--no-report", dest="report", action="store_false",
                   help="no OUT/report.html at the end (`regionlab report OUT` writes it later)")  # fmt: skip
    p.set_defaults(func=cmd_compare)


def check_job(job) -> None:
    """A job's ``train`` flags parse as ``regionlab train`` parses them (before any runs)."""
    from regionlab.cli.main import build_parser

    try:
        build_parser().parse_args(list(job.argv))
    except SystemExit:
        raise ValueError(
            f"--models entry {job.label}: its run's flags are not valid for `regionlab "
            f"{' '.join(job.argv[:2])}` (see the message above)"
        ) from None


def cmd_compare(args: argparse.Namespace) -> int:
    import sys

    from regionlab.comparison.driver import compare

    result = compare(
        args.task, args.data, models=args.models, val=args.val, seeds=args.seeds,
        minutes=args.minutes, parallel=args.parallel, threads=args.threads, flags=args.flags,
        out=args.out, report_fraction=args.report_fraction, tune_fraction=args.tune_fraction,
        split_seed=args.split_seed, checkpoint=args.checkpoint, reuse_runs=args.reuse,
        allow_mixed_commits=args.allow_mixed_commits,
        peers=[p for p in args.peers.split(",") if p], argv=["regionlab", *sys.argv[1:]],
        check_job=check_job, report=args.report,
    )  # fmt: skip
    if result["failed"]:
        print(f"regionlab: {len(result['failed'])} run(s) failed: {', '.join(result['failed'])} "
              "(their log tails are in compare.json and OUT/logs/)", file=sys.stderr)  # fmt: skip
        return 1
    return 0
