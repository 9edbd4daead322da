"""Train-step cost of the two-stage detectors: our Faster R-CNN (and Fast R-CNN, R-CNN) against
torchvision's ``fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None)``.

Same images (Penn-Fudan letterboxed to ``--size``, or scenes when the dataset is absent), same
batch, same threads; forward + backward + AdamW step, the models taking turns so that both see
the same machine load. Reports the median step time and the ratio.

    python benchmarks/detection_step.py                   # batch 4 at 320 px, 2 threads
    python benchmarks/detection_step.py --steps 5 --models faster-rcnn,tv-frcnn

Writes benchmarks/results/detection_step.json.
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
from suite import PFI  # noqa: E402

from regionlab.cli.specs import open_dataset  # noqa: E402
from regionlab.comparison.peer_torchvision import build as torchvision_faster_rcnn  # noqa: E402
from regionlab.models.detection.region_spec import RegionSpec  # noqa: E402
from regionlab.tasks.detection import DetectionTask  # noqa: E402

# our detectors as `regionlab train detect` builds them with these flags
OURS = {
    "grid": ["--model", "grid"],
    "rcnn": ["--model", "rcnn"],
    "fast-rcnn": ["--model", "fast-rcnn"],
    "faster-rcnn": ["--model", "faster-rcnn"],
    "faster-rcnn-1map": ["--model", "faster-rcnn", "--no-fpn"],
}


def batch(size: int, n: int):
    spec = f"{PFI}:start=0,stop={n}" if (DATASETS / "pennfudan").is_dir() else "scenes:n=8"
    data = open_dataset(spec)
    classes = list(getattr(data, "dataset", data).classes)
    task = DetectionTask(RegionSpec("faster-rcnn", 1), size,
                         classes)  # fmt: skip
    plain = task.transform(False)
    items = [plain(data[i]) for i in range(n)]
    b = task.collate(items)
    return b.images, b.targets, len(classes) - 1, spec


def model(name: str, num_classes: int, tmp: Path, spec: str):
    """torchvision's peer, or ours as ``regionlab train detect`` builds it with default flags
    (``OURS``: ``faster-rcnn`` on its pyramid, ``faster-rcnn-1map``...)."""
    if name == "tv-frcnn":
        return torchvision_faster_rcnn(num_classes)
    from regionlab.cli.main import TASKS, build_parser

    args = build_parser().parse_args(["train", "detect", *OURS[name], "--data", spec,
                                      "--proposal-cache", str(tmp)])  # fmt: skip
    return TASKS["detect"].build(args, open_dataset(spec)).build_model()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=320)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default="faster-rcnn,faster-rcnn-1map,fast-rcnn,tv-frcnn")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    images, targets, n, spec = batch(args.size, args.batch_size)
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="ss_"))
    names = args.models.split(",")
    models = {m: model(m, n, tmp, spec).train() for m in names}
    opts = {m: torch.optim.AdamW(models[m].parameters(), 1e-4) for m in names}
    times: dict[str, list[float]] = {m: [] for m in names}
    gen = torch.Generator().manual_seed(0)
    for step in range(args.steps + 1):  # the first step of each warms up (and fills caches)
        for m in names:
            t = time.perf_counter()
            kw = {} if m == "tv-frcnn" else {"generator": gen}
            out = models[m](images, targets, **kw)
            opts[m].zero_grad(set_to_none=True)
            out.loss.backward()
            opts[m].step()
            if step:
                times[m].append(time.perf_counter() - t)
    res = {m: {"median_s": statistics.median(v), "steps": v,
               "params": sum(p.numel() for p in models[m].parameters())}
           for m, v in times.items()}  # fmt: skip
    if "tv-frcnn" in res:
        for m in res:
            res[m]["speedup_vs_tv"] = res["tv-frcnn"]["median_s"] / res[m]["median_s"]
    for m, r in res.items():
        print(f"{m:12s} {r['median_s']:.3f} s/step  {r['params'] / 1e6:.2f} M params  "
              f"{r.get('speedup_vs_tv', float('nan')):.2f}x vs torchvision")  # fmt: skip
    save("detection_step", {"data": spec, "size": args.size, "batch_size": args.batch_size,
                            "threads": args.threads, "results": res})  # fmt: skip


if __name__ == "__main__":
    main()
