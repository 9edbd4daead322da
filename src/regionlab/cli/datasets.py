"""``regionlab data show`` and ``regionlab data check``: a dataset's samples drawn with their
annotations, and every problem of a dataset listed at once."""

from __future__ import annotations

import time
from pathlib import Path

from regionlab.cli.common import HelpFormatter
from regionlab.cli.prepare import classes_of
from regionlab.cli.specs import USAGE, open_dataset, parse_spec
from regionlab.cli.tasks import TASKS


def add_parser(subparsers) -> None:
    data = subparsers.add_parser(
        "data", help="inspect and check datasets", formatter_class=HelpFormatter
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    p = data.add_parser(
        "show", help="render samples with their annotations to PNG", formatter_class=HelpFormatter
    )
    p.add_argument("spec", help=USAGE)
    p.add_argument("--out", required=True, help="folder for the PNGs")
    p.add_argument("--n", type=int, default=8, help="how many samples")
    p.set_defaults(func=cmd_data_show)
    p = data.add_parser(
        "check",
        help="read and decode every sample and list every problem (exit 1 if any)",
        formatter_class=HelpFormatter,
    )
    p.add_argument("spec", help=USAGE)
    p.add_argument(
        "--task", choices=list(TASKS), help="also check what this task needs of each sample"
    )
    p.set_defaults(func=cmd_data_check)


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
    report = scan(ds, check, progress=_progress(args.spec, time.perf_counter()))
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


def _progress(spec: str, t0: float, steps: int = 10):
    """A ``scan`` progress callback: one line on stderr each tenth of a set of 1000+ samples
    (a large set takes minutes to decode; a small one needs no news)."""
    import sys

    def show(done: int, total: int, bad: int) -> None:
        if total >= 1000 and done * steps // total != (done - 1) * steps // total:
            print(f"{spec}: decoded {done} of {total} samples ({done / total:.0%}), "
                  f"{bad} problem(s) so far, {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr, flush=True)  # fmt: skip

    return show
