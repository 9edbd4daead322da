"""How close a training step comes to the machine: FLOPs per step, step time and the share of the
matmul peak measured in the same run, for the default model of every task.

Each model is built as ``regionlab train TASK --data DATA`` builds it (default flags, the
task's recipe batch size), on a batch of the data a new user would train on (Penn-Fudan at
320 px for the detectors and Mask R-CNN when ``../shared/datasets`` is there, else scenes).
A step is the engine's: ``task.step`` (forward, losses) + backward + the engine's optimizer
step (``build_optimizer``: fused AdamW). FLOPs are counted by
``torch.utils.flop_counter.FlopCounterMode`` over one whole step (forward and backward; a
grouped convolution's backward by ``_common.step_flop_counter``: torch 2.14 overcounts it); the
peak is the best of several large fp32 ``torch.matmul`` at the same threads, measured now
(machines differ: never a constant) at the start, beside every setup and at the end (a
neighbour's load only lowers a reading), and beside it the bf16 one. ``--precision`` (default
``auto``) runs each step as the engine would (``regionlab.engine.precision``: bf16 autocast on
a CPU with AMX for the tasks measured under it); a bf16 step's share is given of both peaks.
The counted step and every timed one start from the same weights and optimizer state (taken
after a warm-up step), so they do the same work.

    python benchmarks/efficiency.py                  # 2 threads, every task
    python benchmarks/efficiency.py --only detect-grid,detect-faster-rcnn --steps 6

Beside the grid, Ultralytics YOLO26n's training step on the same batch (``efficiency_peer.py``;
the ``bench`` extra, ``--no-peer`` leaves it out), and the grid's images/s against it.

Writes benchmarks/results/efficiency.json and .png.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATASETS, RESULTS, save, step_flop_counter  # noqa: E402

from regionlab.engine.config import PRECISIONS, TrainConfig  # noqa: E402
from regionlab.engine.optim import build_optimizer  # noqa: E402

CPU = torch.device("cpu")

PENN_FUDAN = f"instances:{DATASETS}/pennfudan/PNGImages:{DATASETS}/pennfudan/PedMasks"

# (name, task, extra flags, data spec on photos or None for scenes only)
SETUPS = [
    ("segment", "segment", [], None),
    ("localize", "localize", [], None),
    ("keypoints", "keypoints", [], None),
    ("detect-grid", "detect", ["--size", "320"], PENN_FUDAN),
    ("detect-faster-rcnn", "detect", ["--model", "faster-rcnn", "--size", "320"], PENN_FUDAN),
    ("instance-mask-rcnn", "instance", ["--size", "320"], PENN_FUDAN),
    ("caption", "caption", [], None),
]


def matmul_peak(threads: int, n: int = 2048, repeats: int = 5, dtype=torch.float32) -> float:
    """Best GFLOP/s of an ``n x n`` by ``n x n`` matmul in ``dtype`` at ``threads`` threads."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    torch.matmul(a, b)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def build(task_name: str, flags: list[str], data_spec: str, layout: bool = True):
    """The task, its model and one training batch, as ``regionlab train`` builds them: in the
    engine's memory layout (``TrainConfig.channels_last``, on in every run; the batch follows
    the model's layout in ``task.step``). ``layout=False``: the model as built (NCHW)."""
    from regionlab.cli.main import build_parser
    from regionlab.cli.specs import open_dataset
    from regionlab.cli.tasks import TASKS
    from regionlab.engine.config import TrainConfig

    args = build_parser().parse_args(["train", task_name, "--data", data_spec, *flags])
    data = open_dataset(data_spec)
    cli = TASKS[task_name]
    task = cli.build(args, data)
    batch_size = cli.recipe_for(data, getattr(args, "model", None))["batch_size"]
    plain = task.transform(False)
    items = [plain(data[i % len(data)]) for i in range(batch_size)]
    model = task.build_model().train()
    if layout and TrainConfig().channels_last:  # as engine.run.Run._layout does
        model = model.to(memory_format=torch.channels_last)
    return task, model, task.collate(items), batch_size


def one_step(task, model, batch, opt, arithmetic=None) -> None:
    with arithmetic.autocast(CPU) if arithmetic is not None else nullcontext():
        out = task.step(model, batch, CPU)
    opt.zero_grad(set_to_none=True)
    out.loss.backward()
    opt.step()


def measure(
    name: str, task_name: str, flags: list[str], data_spec: str, steps: int, asked: str = "auto"
) -> dict:
    """``asked``: the precision as ``--precision`` takes it, resolved as the engine does."""
    from regionlab.engine.precision import resolve

    torch.manual_seed(0)
    task, model, batch, batch_size = build(task_name, flags, data_spec)
    arithmetic = resolve(asked, CPU, task)
    opt = build_optimizer(model, TrainConfig())  # the engine's (fused AdamW)
    one_step(task, model, batch, opt, arithmetic)  # warm-up (allocations, oneDNN primitives)
    # Every counted and timed step starts from the same weights and optimizer state, so each
    # does the same work: a two-stage detector's regions (and Mask R-CNN's FLOPs, by its
    # positives) change with the weights, by 8% a step.
    start = copy.deepcopy((model.state_dict(), opt.state_dict()))

    def restart() -> None:
        model.load_state_dict(start[0])
        opt.load_state_dict(copy.deepcopy(start[1]))

    restart()
    with step_flop_counter() as counter:
        one_step(task, model, batch, opt, arithmetic)
    flops = counter.get_total_flops()
    times = []
    for _ in range(steps):
        restart()
        t0 = time.perf_counter()
        one_step(task, model, batch, opt, arithmetic)
        times.append(time.perf_counter() - t0)
    step_s = statistics.median(times)
    return {
        "task": task_name,
        "flags": flags,
        "data": data_spec,
        "batch_size": batch_size,
        "precision": arithmetic.to_dict(),
        "params": sum(p.numel() for p in model.parameters()),
        "gflop_per_step": flops / 1e9,
        "step_s": step_s,
        "step_s_all": times,
        "gflop_per_s": flops / 1e9 / step_s,
        "img_per_s": batch_size / step_s,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5, help="timed steps per model (median)")
    ap.add_argument("--only", help="comma-separated setup names")
    ap.add_argument("--name", default="efficiency", help="results file name")
    ap.add_argument("--no-peer", action="store_true", help="leave YOLO26n out (bench extra)")
    ap.add_argument("--precision", default="auto", choices=PRECISIONS,
                    help="the training step's arithmetic, resolved per task as the engine does")  # fmt: skip
    args = ap.parse_args()
    photos = (DATASETS / "pennfudan").is_dir()
    peak_before = matmul_peak(args.threads)
    bf16_peak = matmul_peak(args.threads, dtype=torch.bfloat16)
    readings = [peak_before]
    rows = {}
    for name, task_name, flags, photo_spec in SETUPS:
        if args.only and name not in args.only.split(","):
            continue
        spec = photo_spec if photos and photo_spec else "scenes:n=32"
        readings.append(matmul_peak(args.threads))  # beside each setup: load only lowers it
        torch.set_num_threads(args.threads)
        rows[name] = measure(name, task_name, flags, spec, args.steps, args.precision)
        print(name, {k: rows[name][k] for k in ("gflop_per_step", "step_s", "gflop_per_s")})
        if name == "detect-grid" and not args.no_peer:  # the same batch, the same threads
            from efficiency_peer import measure_yolo26n

            _, _, batch, _ = build(task_name, flags, spec)
            rows["yolo26n"] = measure_yolo26n(batch.images, batch.targets, args.threads,
                                              args.steps)  # fmt: skip
            rows["yolo26n"]["data"] = spec
            ratio = rows[name]["img_per_s"] / rows["yolo26n"]["img_per_s"]
            rows[name]["img_per_s_vs_yolo26n"] = ratio
            print("yolo26n", {k: rows["yolo26n"][k] for k in ("gflop_per_step", "step_s")},
                  f"grid images/s = {ratio:.2f}x YOLO26n's")  # fmt: skip
    peak_after = matmul_peak(args.threads)
    # the best of both ends, as the fp32 peak (the first reading can come before the clock rises)
    bf16_peak = max(bf16_peak, matmul_peak(args.threads, dtype=torch.bfloat16))
    peak = max(*readings, peak_after)
    for r in rows.values():
        r["peak_share"] = r["gflop_per_s"] / peak  # of the fp32 peak, whatever the step ran in
        r["bf16_peak_share"] = r["gflop_per_s"] / bf16_peak
    table = [
        "| setup | precision | batch | GFLOP/step | s/step | images/s | GFLOP/s | share of fp32 "
        "peak | share of bf16 peak |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        table.append(f"| {name} | {r.get('precision', {}).get('name', 'fp32')} | "
                     f"{r['batch_size']} | {r['gflop_per_step']:.1f} | "
                     f"{r['step_s']:.3f} | {r['img_per_s']:.1f} | {r['gflop_per_s']:.1f} | "
                     f"{r['peak_share']:.0%} | {r['bf16_peak_share']:.0%} |")  # fmt: skip
    md = "\n".join(table)
    print(f"matmul peak {peak:.1f} GFLOP/s fp32 at {args.threads} threads (before "
          f"{peak_before:.1f}, after {peak_after:.1f}), {bf16_peak:.1f} bf16\n{md}")  # fmt: skip
    save(args.name, {"threads": args.threads, "precision": args.precision,
                     "peak_gflop_s": peak, "peak_before": peak_before, "peak_after": peak_after,
                     "peak_readings": [*readings, peak_after],
                     "bf16_peak_gflop_s": bf16_peak, "results": rows, "table": md})  # fmt: skip
    plot(rows, peak, args.threads, RESULTS / f"{args.name}.png")


def plot(rows: dict, peak: float, threads: int, path: Path) -> None:
    """One bar per setup: the share of the same-run matmul peak its training step reaches."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(rows)
    shares = [rows[n]["peak_share"] * 100 for n in names]
    fig, ax = plt.subplots(figsize=(1.3 * len(names) + 2, 3.8))
    ax.bar(range(len(names)), shares, color="#4c72b0")
    for i, (n, v) in enumerate(zip(names, shares)):
        ax.text(i, v + 1, f"{v:.0f}%\n{rows[n]['gflop_per_s']:.0f} GF/s", ha="center", fontsize=8)
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("% of fp32 matmul peak")
    ax.set_ylim(0, max(100, max(shares, default=0) + 15))
    ax.set_title(f"training step vs the same-run matmul peak ({peak:.0f} GFLOP/s, {threads} threads)",
                 fontsize=9)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
