"""``regionlab report DIR``: write DIR/report.html for a training run or compare folder (the
``report/`` room); ``train`` writes one at its end too."""

from __future__ import annotations

from regionlab.cli.common import HelpFormatter

DESCRIPTION = """\
Write one self-contained report.html (inline images, no script, nothing fetched) for a
training run folder (run.json, metrics.jsonl, best.pt) or a compare folder (compare.json):
the results table, learning curves, cost per model, the task's diagnostics (detection PR
curves, confusion, AP by size, F1-confidence; segmentation confusion and IoU per class;
captions), validation images predicted by every model side by side, and the worst images.

  regionlab report runs/detect
  regionlab report runs/compare-detect --images 32"""


def cmd_report(args) -> int:
    from regionlab.report import write_report

    print(write_report(args.folder, max_images=args.images, device=args.device))
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="write report.html for a run or compare folder",
                       description=DESCRIPTION, formatter_class=HelpFormatter)  # fmt: skip
    p.add_argument("folder", help="a training run folder or a compare folder")
    p.add_argument("--images", type=int, default=16,
                   help="validation images each model predicts for the page")  # fmt: skip
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N (default: auto)")
    p.set_defaults(func=cmd_report)
