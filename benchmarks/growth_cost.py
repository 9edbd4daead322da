"""Cost as the work grows (issue 22 item 4): training-step time, FLOPs and peak memory of the
grid detector and Faster R-CNN against objects per image (1, 10, 50, 200) and input size
(320, 640, 1024), and COCO evaluation time against the number of images.

Each step is the engine's (``task.step`` + backward + AdamW) on a batch of synthetic images
(random pixels, ``N`` random boxes per image, one class), the model built as ``regionlab train
detect --data PENN_FUDAN --size S`` builds it (default flags; scenes without the datasets).
Each point runs in a fresh process; its peak memory is the process's RSS sampled during the
steps (the kernel's high-water mark, reset before the first step, whose allocations count;
results before 2026-12-06 sampled ``VmRSS`` every 2 ms from a thread instead), beside
its RSS before them; not ``ru_maxrss``. Time should grow no faster than the FLOPs (the
arithmetic the step must do): the script reports, per axis, the log-log slope of time and of
FLOPs. The FLOP counter sees convolutions and matrix products only: matching, sampling and NMS
count none, so along the objects axis the FLOP slope is 0 and the time slope is that work
(quadratic in objects would show as a slope near 2 between 50 and 200 objects).

    python benchmarks/growth_cost.py                       # 2 threads, both detectors
    python benchmarks/growth_cost.py --only grid --steps 2

Writes benchmarks/results/growth_cost.json and .png.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from regionlab.engine.memory import peak_bytes, reset_peak, rss_bytes

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATASETS, RESULTS, save  # noqa: E402
from efficiency import PENN_FUDAN  # noqa: E402

MODELS = {"grid": [], "faster-rcnn": ["--model", "faster-rcnn"]}
OBJECTS = (1, 10, 50, 200)
SIZES = (320, 640, 1024)
EVAL_IMAGES = (100, 300, 1000, 3000)


class PeakRSS:
    """The kernel's RSS high-water mark while the block runs (reset on entry), beside the RSS
    before it."""

    def __enter__(self) -> PeakRSS:
        self.before = rss_bytes()
        if not reset_peak():
            raise SystemExit("growth_cost.py needs a resettable /proc/self peak RSS (Linux 4.0+)")
        return self

    def __exit__(self, *exc) -> None:
        self.peak = peak_bytes()


def synthetic(n_objects: int, size: int, seed: int):
    """A ``size x size`` image of random pixels with ``n_objects`` random boxes (class 1)."""
    from regionlab.data.sample import Sample

    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n_objects, 2, generator=g) * size * 0.8
    wh = (torch.rand(n_objects, 2, generator=g) * 0.2 + 0.04) * size
    boxes = torch.cat([xy, (xy + wh).clamp(max=size - 1)], 1)
    image = torch.randint(0, 256, (3, size, size), generator=g, dtype=torch.uint8)
    return Sample(image, boxes=boxes, labels=torch.ones(n_objects, dtype=torch.int64))


def build(flags: list[str], size: int):
    from regionlab.cli.main import build_parser
    from regionlab.cli.specs import open_dataset
    from regionlab.cli.tasks import TASKS

    # the model a photo set gets (Penn-Fudan's defaults when it is there); the images are ours
    spec = PENN_FUDAN if (DATASETS / "pennfudan").is_dir() else "scenes:n=8"
    args = build_parser().parse_args(["train", "detect", "--data", spec, "--size", str(size),
                                      *flags])  # fmt: skip
    task = TASKS["detect"].build(args, open_dataset(spec))
    return task, task.build_model().train()


def step_cost(flags: list[str], size: int, n_objects: int, batch: int, steps: int) -> dict:
    torch.manual_seed(0)
    task, model = build(flags, size)
    plain = task.transform(False)
    items = [plain(synthetic(n_objects, size, i)) for i in range(batch)]
    data = task.collate(items)
    opt = torch.optim.AdamW(model.parameters(), 1e-4)

    def one() -> None:
        out = task.step(model, data, torch.device("cpu"))
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()

    with PeakRSS() as mem:  # from before the first step: its allocations count
        one()  # warm-up
        with FlopCounterMode(display=False) as counter:
            one()
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            one()
            times.append(time.perf_counter() - t0)
    return {"size": size, "objects": n_objects, "batch": batch,
            "gflop": counter.get_total_flops() / 1e9, "step_s": statistics.median(times),
            "step_s_all": times, "rss_before_mb": mem.before / 2**20,
            "peak_rss_mb": mem.peak / 2**20}  # fmt: skip


def fresh(fn, *args):
    """``fn(*args)`` in a new process, so each point's memory is its own (an allocator keeps
    what earlier points freed)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn"),
                             initializer=torch.set_num_threads,
                             initargs=(torch.get_num_threads(),)) as pool:  # fmt: skip
        return pool.submit(fn, *args).result()


def eval_cost(n_images: int, per_image: int = 10, preds: int = 100) -> dict:
    """COCO evaluation (faster-coco-eval, our ``coco_evaluate``) of ``n_images`` images with
    ``per_image`` objects and ``preds`` scored predictions each."""
    from regionlab.eval.detection import coco_evaluate
    from regionlab.ops.detections import Detections

    gts, dets = [], []
    for i in range(n_images):
        s = synthetic(per_image, 320, i)
        gts.append(Detections(s.boxes, s.labels))
        jitter = torch.randn(preds, 4) * 8
        b = s.boxes[torch.arange(preds) % per_image] + jitter
        b = torch.cat([b[:, :2], torch.maximum(b[:, 2:], b[:, :2] + 1)], 1)
        dets.append(Detections(b, torch.ones(preds, dtype=torch.int64), torch.rand(preds)))
    t0 = time.perf_counter()
    coco_evaluate(dets, gts, [(320, 320)] * n_images, ["background", "object"])
    return {"images": n_images, "eval_s": time.perf_counter() - t0}


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ``log y`` on ``log x``."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = statistics.mean(lx), statistics.mean(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--only", help="comma-separated model names (grid, faster-rcnn)")
    ap.add_argument("--name", default="growth_cost")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows: dict = {}
    for name, flags in MODELS.items():
        if args.only and name not in args.only.split(","):
            continue
        by_objects = [fresh(step_cost, flags, 320, n, args.batch, args.steps) for n in OBJECTS]
        by_size = [fresh(step_cost, flags, s, 10, args.batch, args.steps) for s in SIZES]
        rows[name] = {"by_objects": by_objects, "by_size": by_size, "slopes": {
            axis: {"time": slope([r[key] for r in pts], [r["step_s"] for r in pts]),
                   "gflop": slope([r[key] for r in pts], [r["gflop"] for r in pts])}
            for axis, key, pts in (("objects", "objects", by_objects),
                                   ("size", "size", by_size))}}  # fmt: skip
        print(name, rows[name]["slopes"])
    evals = [eval_cost(n) for n in EVAL_IMAGES]
    eval_slope = slope([e["images"] for e in evals], [e["eval_s"] for e in evals])
    print("evaluate", evals, "slope", round(eval_slope, 2))
    save(args.name, {"threads": args.threads, "steps": args.steps, "batch": args.batch,
                     "models": rows, "evaluate": evals, "evaluate_slope": eval_slope})  # fmt: skip
    plot(rows, evals, RESULTS / f"{args.name}.png")


def plot(rows: dict, evals: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for name, r in rows.items():
        for ax, key, pts in (
            (axes[0], "objects", r["by_objects"]),
            (axes[1], "size", r["by_size"]),
        ):
            xs = [p[key] for p in pts]
            t0, f0 = pts[0]["step_s"], pts[0]["gflop"]
            ax.plot(xs, [p["step_s"] / t0 for p in pts], "o-", label=f"{name} time")
            ax.plot(xs, [p["gflop"] / f0 for p in pts], "x--", label=f"{name} FLOPs")
    axes[0].set_xlabel("objects per image (320 px)")
    axes[1].set_xlabel("input size (10 objects)")
    for ax in axes[:2]:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylabel("relative to the first point")
        ax.legend(fontsize=7)
    axes[2].loglog([e["images"] for e in evals], [e["eval_s"] for e in evals], "o-")
    axes[2].set_xlabel("images evaluated (COCO bbox)")
    axes[2].set_ylabel("seconds")
    fig.suptitle("Training-step cost against the work: time should track FLOPs", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
