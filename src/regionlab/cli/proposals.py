"""``regionlab proposals``: selective-search region proposals, measured and drawn.

``proposals eval`` scores how well the proposals cover a dataset's boxes (recall at IoU 0.5 and
0.7 against the number kept, MABO); ``proposals show`` draws the top proposals of one image.
Proposals are cached on disk (keyed by image content and settings), so a second run over the
same data costs only the reading. Nothing heavy is imported until a command runs.
"""

from __future__ import annotations

import argparse
import json
import textwrap
import time
from pathlib import Path

from regionlab.cli.common import HelpFormatter, ints_type
from regionlab.cli.prepare import classes_of
from regionlab.cli.specs import USAGE, open_dataset
from regionlab.names import PROPOSAL_CACHE

DEFAULT_TOPS = [100, 300, 1000, 2000]
IOU_THRESHOLDS = (0.5, 0.7)


def _searcher(args):
    """``image -> (boxes, seconds)``, through the cache unless ``--no-cache``."""
    from regionlab.ops.proposals import ProposalCache, require_cv2, selective_search

    cv2 = require_cv2(contrib=True)

    if args.threads is not None:
        cv2.setNumThreads(args.threads)
    if args.no_cache:

        def search(image):
            t0 = time.perf_counter()
            boxes = selective_search(image, args.mode, args.max_side)
            return boxes, time.perf_counter() - t0

        return search, None
    cache = ProposalCache(args.cache)
    return (lambda image: cache.get_timed(image, args.mode, args.max_side)), cache


def _ground_truth(sample):
    """Boxes and labels without crowd regions (VOC "difficult", COCO crowds)."""
    keep = ~sample.iscrowd if sample.iscrowd is not None else slice(None)
    return sample.boxes[keep], sample.labels[keep]


def cmd_eval(args) -> int:
    from regionlab.eval.proposals import best_overlaps, proposal_recall, top_key

    if args.n is not None and args.n < 1:
        raise ValueError(f"--n must be >= 1, got {args.n}")
    data = open_dataset(args.data, split="val")
    n = len(data) if args.n is None else min(args.n, len(data))
    search, cache = _searcher(args)
    tops = [*args.tops, None]
    props, gts, labels, per_image, seconds = [], [], [], [], []
    t0 = time.perf_counter()
    for i in range(n):
        s = data[i]
        boxes, sec = search(s.image)
        gt, lab = _ground_truth(s)
        props.append(boxes)
        gts.append(gt)
        labels.append(lab)
        seconds.append(sec)
        best = best_overlaps(boxes, gt, [None])[0]
        per_image.append(
            {
                "image_id": s.image_id,
                "path": s.path,
                "size": list(s.size),
                "proposals": len(boxes),
                "gt_boxes": len(gt),
                "best_iou": [round(v, 4) for v in best.tolist()],
                "seconds": round(sec, 3),
            }
        )
    wall = time.perf_counter() - t0
    if sum(len(g) for g in gts) == 0:
        raise ValueError(f"{args.data}: the first {n} images have no (non-crowd) boxes to recall")
    result = proposal_recall(props, gts, IOU_THRESHOLDS, tops, labels)
    classes = classes_of(data)
    result["abo_per_class"] = {
        (classes[int(c)] if int(c) < len(classes) else c): v
        for c, v in result["abo_per_class"].items()
    }
    result.update(
        data=args.data,
        mode=args.mode,
        max_side=args.max_side,
        seconds_per_image=sum(seconds) / n,
        wall_seconds=round(wall, 2),
        cache=None if cache is None else {"folder": str(cache.folder), "hits": cache.hits},
        per_image=per_image,
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "proposals.json").write_text(json.dumps(result, indent=1) + "\n")
    grid = _curve_grid(max(len(p) for p in props))
    curve = proposal_recall(props, gts, IOU_THRESHOLDS, grid)
    _plot_curve(curve, grid, out / "recall_vs_proposals.png", _title(args, n))
    print(_table(result, [top_key(t) for t in tops]))
    print(f"wrote {out / 'proposals.json'} and {out / 'recall_vs_proposals.png'}")
    return 0


def _title(args, n: int) -> str:
    size = f", max side {args.max_side}" if args.max_side else ""
    # folders by their last name: a title of absolute paths runs off the picture
    spec = ":".join("/".join(Path(part).parts[-2:]) if "/" in part else part
                    for part in args.data.split(":"))  # fmt: skip
    return f"selective search ({args.mode}{size}) on {n} images of {spec}"


def _table(result: dict, keys: list[str]) -> str:
    head = f"{'top N':>14} " + " ".join(f"{k:>7}" for k in keys)
    rows = [head]
    used = result["mean_proposals_used"]
    rows.append(f"{'proposals used':>14} " + " ".join(f"{used[k]:7.0f}" for k in keys))
    for thr, rec in result["recall"].items():
        rows.append(f"{'recall@' + thr:>14} " + " ".join(f"{rec[k]:7.3f}" for k in keys))
    rows.append(f"{'MABO':>14} " + " ".join(f"{result['mabo'][k]:7.3f}" for k in keys))
    rows.append(
        f"{result['images']} images ({result['images_with_gt']} with boxes), "
        f"{result['gt_boxes']} boxes; {result['mean_proposals']:.0f} proposals per image, "
        f"{result['seconds_per_image']:.2f} s per image to compute"
        + (f" (cache hits: {result['cache']['hits']})" if result["cache"] else "")
    )
    return "\n".join(rows)


def _curve_grid(most: int) -> list[int]:
    """Top-N values spaced evenly in log N, from 1 up to the largest proposal count."""
    grid, n = [], 1.0
    while n < most:
        grid.append(int(n))
        n *= 1.25
    return sorted(set(grid)) + [most]


def _plot_curve(curve: dict, grid: list[int], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(6.5, 4), constrained_layout=True)
    for thr, rec in curve["recall"].items():
        ax.plot(grid, [rec[str(n)] for n in grid], label=f"recall @ IoU {thr}")
    ax.plot(grid, [curve["mabo"][str(n)] for n in grid], "--", label="MABO")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())  # 100, not 10^2
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("proposals kept per image (top N)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("\n".join(textwrap.wrap(title, 90)), fontsize=9)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cmd_show(args) -> int:
    from PIL import ImageDraw

    from regionlab.eval.proposals import best_overlaps
    from regionlab.viz.draw import palette, to_pil

    data = open_dataset(args.data, split="val")
    if not 0 <= args.index < len(data):
        raise ValueError(f"--index {args.index}: {args.data} has {len(data)} samples")
    s = data[args.index]
    search, _ = _searcher(args)
    boxes, _ = search(s.image)
    top = boxes[: args.top]
    img = to_pil(s.image)
    d = ImageDraw.Draw(img)
    cols = palette(len(top) + 1)[1:]  # one colour per proposal, skipping black
    for box, c in zip(top.tolist(), cols):
        d.rectangle(box, outline=tuple(int(v) for v in c), width=1)
    gt, _ = _ground_truth(s)
    for box in gt.tolist():  # the objects, over the proposals: thick white
        d.rectangle(box, outline=(255, 255, 255), width=3)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dest = out / f"proposals_{args.index:04d}_top{len(top)}.png"
    img.save(dest)
    best = best_overlaps(top, gt, [None])[0].tolist()
    print(
        f"{len(boxes)} proposals, top {len(top)} drawn; best IoU of each object: "
        + (", ".join(f"{v:.2f}" for v in best) or "no objects")
    )
    print(dest)
    return 0


def _search_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help=f"data spec: {USAGE}")
    p.add_argument(
        "--mode",
        choices=["fast", "quality"],
        default="fast",
        help="fast: 2 colour spaces x 3 k x 2 strategies (~2k boxes on VOC); quality: "
        "5 x 5 x 4 (~10k boxes, several times slower)",
    )
    p.add_argument(
        "--max-side",
        type=int,
        help="search a copy shrunk to this longer side (faster), boxes scaled back "
        "(default: full size)",
    )
    p.add_argument(
        "--cache",
        default=PROPOSAL_CACHE,
        help="folder of cached proposals (keyed by image content and settings)",
    )
    p.add_argument("--no-cache", action="store_true", help="always compute, store nothing")
    p.add_argument("--threads", type=int, help="OpenCV threads (default: OpenCV's choice)")


def _sub(group, name: str, **kw) -> argparse.ArgumentParser:
    return group.add_parser(name, formatter_class=HelpFormatter, **kw)


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``proposals eval`` and ``proposals show`` to a command's sub-parsers."""
    p = _sub(
        subparsers,
        "proposals",
        help="selective-search region proposals: recall on a dataset, or drawn",
        description=__doc__.split("\n\n", 1)[1].strip(),
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    e = _sub(
        actions,
        "eval",
        help="recall@0.5/0.7 and MABO vs the number of proposals kept",
        description="Selective search on each image; recall of the (non-crowd) boxes at IoU\n"
        "0.5 and 0.7 and MABO for the top N proposals. Writes proposals.json and\n"
        "recall_vs_proposals.png in --out.",
    )
    _search_flags(e)
    e.add_argument("--n", type=int, help="only the first N images (default: all)")
    e.add_argument(
        "--tops",
        type=ints_type,
        default=DEFAULT_TOPS,
        help="top-N values of the table, comma-separated (all proposals are always added) "
        "(default: 100,300,1000,2000)",
    )
    e.add_argument("--out", default="runs/proposals", help="output folder")
    e.set_defaults(func=cmd_eval)
    s = _sub(actions, "show", help="draw the top proposals of one image to PNG")
    _search_flags(s)
    s.add_argument("--index", type=int, default=0, help="which sample")
    s.add_argument("--top", type=int, default=100, help="how many proposals to draw")
    s.add_argument("--out", required=True, help="folder for the PNG")
    s.set_defaults(func=cmd_show)
    return p
