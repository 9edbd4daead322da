"""Host work per training sample: what a detection or instance training step spends on its
batch before the model sees it (read from the in-memory cache, mosaic or plain placement,
flip, colour jitter), per sample, on one thread, on Penn-Fudan as ``regionlab train`` reads it.

The engine prepares batches in the training process by default (``--num-workers 0``), so this
time adds to every step: with 8 images a step, 8 times the figure below.

    python benchmarks/data_prep.py                    # writes benchmarks/results/data_prep.json
    PYTHONPATH=OTHER/src python benchmarks/data_prep.py --name data_prep_before   # other code
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

PF = DATASETS / "pennfudan"
SPEC = f"instances:{PF}/PNGImages:{PF}/PedMasks:start=40,class_name=person"
SETUPS = [  # (name, task, flags)
    ("detect-grid", "detect", []),
    ("detect-faster-rcnn", "detect", ["--model", "faster-rcnn"]),
    ("instance-mask-rcnn", "instance", []),
]


def per_sample_ms(task_name: str, flags: list[str], samples: int, repeats: int) -> dict:
    """Median over ``repeats`` of the mean ms per training sample, in the mosaic phase (the
    first ``mosaic_off`` of training) and after it, samples read from a warm cache."""
    from regionlab.cli.main import build_parser
    from regionlab.cli.specs import open_dataset
    from regionlab.cli.tasks import TASKS
    from regionlab.engine.loader import AugmentContext, SampleCache

    args = build_parser().parse_args(["train", task_name, "--data", SPEC, *flags])
    data = open_dataset(SPEC)
    task = TASKS[task_name].build(args, data)
    cache = SampleCache(data, 3072)
    for i in range(len(cache)):  # warm: decoding is paid once per run, not per step
        cache[i]
    transform = task.transform(True)
    gen = torch.Generator().manual_seed(0)

    def draw():
        return cache[int(torch.randint(len(cache), (), generator=gen))]

    out = {}
    for phase, progress in (("mosaic", 0.0), ("plain", 0.99)):
        ctx = AugmentContext(0, progress, draw)
        means = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for i in range(samples):
                transform(cache[i % len(cache)], gen, ctx)
            means.append((time.perf_counter() - t0) / samples * 1000)
        out[f"{phase}_ms"] = statistics.median(means)
        out[f"{phase}_ms_all"] = means
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--name", default="data_prep")
    args = ap.parse_args()
    if not PF.is_dir():
        raise SystemExit(f"{PF} not found: this benchmark reads Penn-Fudan")
    torch.set_num_threads(args.threads)
    rows = {name: per_sample_ms(task, flags, args.samples, args.repeats)
            for name, task, flags in SETUPS}  # fmt: skip
    table = ["| setup | ms per sample, mosaic phase | ms per sample, after it |", "|---|---|---|"]
    table += [f"| {n} | {r['mosaic_ms']:.1f} | {r['plain_ms']:.1f} |" for n, r in rows.items()]
    md = "\n".join(table)
    print(md)
    save(args.name, {"threads": args.threads, "samples": args.samples, "data": SPEC,
                     "results": rows, "table": md})  # fmt: skip


if __name__ == "__main__":
    main()
