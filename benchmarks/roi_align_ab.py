"""A/B of RoIAlign's training path in one process: torchvision's ``roi_align`` against
``regionlab.ops.roi.roi_align_sampled`` (bilinear ``grid_sample``), alternating step by step on
the same model and batch, so a change of machine load hits both alike (separate processes on
this shared machine saw its matmul peak move 25% within minutes). Faster R-CNN and Mask R-CNN
as ``regionlab train`` builds them (``benchmarks/efficiency.py``'s ``build``: Penn-Fudan at 320
px, the recipe batch, channels_last).

    python benchmarks/roi_align_ab.py            # 2 threads, 12 rounds

Per model: the median step of each path and the per-round ratio (torchvision / grid_sample),
mean ± sd. Writes benchmarks/results/roi_align_ab.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATASETS, save  # noqa: E402
from efficiency import PENN_FUDAN, build, one_step  # noqa: E402

SETUPS = {
    "faster-rcnn": ("detect", ["--model", "faster-rcnn", "--size", "320"]),
    "mask-rcnn": ("instance", ["--size", "320"]),
}


def torchvision_path(fmap, rows, out, scale, sampling):
    from torchvision.ops import roi_align

    return roi_align(fmap, rows, out, scale, sampling_ratio=sampling, aligned=True)


def measure(task_name: str, flags: list[str], spec: str, rounds: int) -> dict:
    import regionlab.ops.roi as roi

    grid_path = roi.roi_align_sampled
    torch.manual_seed(0)
    task, model, batch, _ = build(task_name, flags, spec)
    opt = torch.optim.AdamW(model.parameters(), 1e-4)
    times = {"torchvision": [], "grid_sample": []}
    paths = {"torchvision": torchvision_path, "grid_sample": grid_path}
    try:
        for r in range(rounds + 1):
            for name, path in paths.items():
                roi.roi_align_sampled = path
                t0 = time.perf_counter()
                one_step(task, model, batch, opt)
                if r:  # round 0 warms both up
                    times[name].append(time.perf_counter() - t0)
    finally:
        roi.roi_align_sampled = grid_path
    ratios = [a / b for a, b in zip(times["torchvision"], times["grid_sample"])]
    return {name: {"median_s": statistics.median(t), "all_s": t} for name, t in times.items()} | {
        "ratio_mean": statistics.mean(ratios),
        "ratio_sd": statistics.stdev(ratios),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=12)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    spec = PENN_FUDAN if (DATASETS / "pennfudan").is_dir() else "scenes:n=32"
    rows = {}
    for name, (task_name, flags) in SETUPS.items():
        rows[name] = measure(task_name, flags, spec, args.rounds)
        r = rows[name]
        print(f"{name}: torchvision {r['torchvision']['median_s']:.3f} s, grid_sample "
              f"{r['grid_sample']['median_s']:.3f} s per step; torchvision / grid_sample "
              f"{r['ratio_mean']:.2f} ± {r['ratio_sd']:.2f}")  # fmt: skip
    save("roi_align_ab", {"threads": args.threads, "rounds": args.rounds, "data": spec,
                          "results": rows})  # fmt: skip


if __name__ == "__main__":
    main()
