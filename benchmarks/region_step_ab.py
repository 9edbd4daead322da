"""The two-stage training step with this work's changes switched off one by one, in alternating
steps of one process (the same batch, weights, threads and machine load for every variant):

- ``now``: the library as it is;
- ``grid RoI read``: RoIAlign for training by ``grid_sample`` on each level in turn (the read
  before ``roi_align_gathered``);
- ``+ full NMS``: also the RPN's NMS on every candidate, its first ``post`` kept after (before
  ``batched_nms_each(limit=)``).

Each round runs one untimed step per variant after switching, then one timed; every step starts
from the same weights and optimizer state (see ``efficiency.py``). Reports the median.

    python benchmarks/region_step_ab.py                  # Faster R-CNN and Mask R-CNN, 25 rounds

Writes benchmarks/results/region_step_ab.json and .png.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, grouped_bars, save  # noqa: E402
from efficiency import CPU, SETUPS, build, one_step  # noqa: E402

import regionlab.models.detection.rpn as rpn  # noqa: E402
import regionlab.ops.roi as roi  # noqa: E402
from regionlab.engine.config import TrainConfig  # noqa: E402
from regionlab.engine.optim import build_optimizer  # noqa: E402
from regionlab.engine.precision import resolve  # noqa: E402

NOW = {"gathered": roi.roi_align_gathered, "nms": rpn.batched_nms_each}


def grid_levels(maps, rows, level, out, strides):
    """RoIAlign for training as before: ``grid_sample`` a level at a time, back in order."""
    order = level.argsort(stable=True)
    counts = torch.bincount(level, minlength=len(maps)).tolist()
    crops = [roi.roi_align_sampled(maps[i], part, out, 1.0 / strides[i], 1)
             for i, part in enumerate(rows[order].split(counts)) if len(part)]  # fmt: skip
    return torch.cat(crops).index_select(0, order.argsort())


def full_nms(boxes, scores, idxs, iou, limit=None):
    return [k[:limit] for k in NOW["nms"](boxes, scores, idxs, iou)]


VARIANTS = {
    "now": {},
    "grid RoI read": {"gathered": grid_levels},
    "+ full NMS": {"gathered": grid_levels, "nms": full_nms},
}


def switch(variant: dict) -> None:
    roi.roi_align_gathered = variant.get("gathered", NOW["gathered"])
    rpn.batched_nms_each = variant.get("nms", NOW["nms"])


def measure(setup: str, rounds: int, threads: int) -> dict:
    name, task_name, flags, spec = next(s for s in SETUPS if s[0] == setup)
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    task, model, batch, _ = build(task_name, flags, spec)
    arithmetic = resolve("auto", CPU, task)
    opt = build_optimizer(model, TrainConfig())
    one_step(task, model, batch, opt, arithmetic)
    start = copy.deepcopy((model.state_dict(), opt.state_dict()))
    times: dict[str, list[float]] = {k: [] for k in VARIANTS}
    for r in range(rounds + 1):
        for key, variant in VARIANTS.items():
            switch(variant)
            for timed in (False, True):
                model.load_state_dict(start[0])
                opt.load_state_dict(copy.deepcopy(start[1]))
                t0 = time.perf_counter()
                one_step(task, model, batch, opt, arithmetic)
                if timed and r:  # round 0 warms every variant up
                    times[key].append(time.perf_counter() - t0)
    switch({})
    return {
        "data": spec,
        "flags": flags,
        "steps_s": times,
        "median_s": {k: statistics.median(v) for k, v in times.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=25)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="detect-faster-rcnn,instance-mask-rcnn")
    args = ap.parse_args()
    rows = {s: measure(s, args.rounds, args.threads) for s in args.only.split(",")}
    for s, r in rows.items():
        m = r["median_s"]
        print(s, {k: round(v, 4) for k, v in m.items()},
              f"now / before: {m['now'] / m['+ full NMS']:.2f}")  # fmt: skip
    save("region_step_ab", {"threads": args.threads, "rounds": args.rounds, "results": rows})
    plot(rows, RESULTS / "region_step_ab.png")


def plot(rows: dict, path: Path) -> None:
    series = {k: [rows[s]["median_s"][k] for s in rows] for k in VARIANTS}
    grouped_bars(list(rows), series, path, "training step, s (median)",
                 "two-stage training step, each change switched off (alternating steps)",
                 label=".3f", width=2.5)  # fmt: skip


if __name__ == "__main__":
    main()
