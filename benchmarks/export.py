"""CPU latency of one image through eager PyTorch, TorchScript and onnxruntime, for the grid
detector, Faster R-CNN, Mask R-CNN and the segmentation default, at the same threads, alone.

Each model is built as ``regionlab train TASK`` builds it (default flags; 320 px for the
detectors), exported with ``regionlab.export`` and timed through the same ``task.predict`` path
(letterbox / resize, the graph, back to the image's pixels), batch 1, the runtimes taking turns
in rounds of whole passes, ``--repeats`` rounds (median ± sd of the pass medians), on Penn-Fudan images when
``../shared/datasets`` is there (else scenes). The weights are the untrained initialisation, so
the detectors keep their full ``max_det`` boxes through NMS (and Mask R-CNN pastes that many
masks): the slowest case, the same for every runtime.

    python benchmarks/export.py                 # 2 threads, 20 images, every model

Beside the grid, Ultralytics YOLO26n exported by Ultralytics to ONNX (``export_peer.py``; the
``bench`` extra, ``--no-peer`` leaves it out).

Writes benchmarks/results/export.json and .png.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATASETS, RESULTS, grouped_bars, save, timed_passes  # noqa: E402
from efficiency import PENN_FUDAN  # noqa: E402

SETUPS = [
    ("grid", "detect", ["--size", "320"]),
    ("faster-rcnn", "detect", ["--model", "faster-rcnn", "--size", "320"]),
    ("mask-rcnn", "instance", ["--size", "320"]),
    ("segment", "segment", []),
]
RUNTIMES = ("eager", "torchscript", "onnxruntime")


def build(task_name: str, flags: list[str], spec: str):
    from regionlab.cli.main import build_parser
    from regionlab.cli.specs import open_dataset
    from regionlab.cli.tasks import TASKS

    args = build_parser().parse_args(["train", task_name, "--data", spec, *flags])
    data = open_dataset(spec)
    task = TASKS[task_name].build(args, data)
    torch.manual_seed(0)
    return task, task.build_model().eval(), data


def measure(task_name: str, flags: list[str], spec: str, n: int, work: Path, repeats: int,
            peer: bool = False) -> dict:  # fmt: skip
    from regionlab.export import export_model, load_exported

    task, model, data = build(task_name, flags, spec)
    images = [data[i % len(data)].image.float() / 255 for i in range(n)]
    runners = {"eager": lambda x: task.predict(model, x)}
    for fmt, runtime in (("torchscript", "torchscript"), ("onnx", "onnxruntime")):
        suffix = ".torchscript.pt" if fmt == "torchscript" else ".onnx"
        path = export_model(task, model, work / f"{task_name}{suffix}", fmt)
        exported = load_exported(path)
        runners[runtime] = exported.predict_tensor
    batches = [img[None] for img in images]
    with torch.inference_mode():
        out = timed_passes(runners, {name: batches for name in runners}, repeats)
    eager = out["eager"]["median_s"]
    for name in RUNTIMES:
        out[name]["speedup_vs_eager"] = eager / out[name]["median_s"]
    if peer:  # YOLO26n beside the grid, the same images and threads
        from export_peer import measure_peer

        out["peer"] = measure_peer(work / f"{task_name}.onnx", images, task.size,
                                   torch.get_num_threads(), repeats, work)  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3, help="passes over the images")
    ap.add_argument("--only", help="comma-separated setup names")
    ap.add_argument("--name", default="export")
    ap.add_argument("--no-peer", action="store_true", help="leave YOLO26n out (bench extra)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    photos = (DATASETS / "pennfudan").is_dir()
    work = Path(tempfile.mkdtemp(prefix="regionlab_export_bench_"))
    rows = {}
    for name, task_name, flags in SETUPS:
        if args.only and name not in args.only.split(","):
            continue
        spec = PENN_FUDAN if photos and task_name != "segment" else "scenes:n=32"
        rows[name] = {
            "data": spec,
            **measure(
                task_name,
                flags,
                spec,
                args.images,
                work,
                args.repeats,
                peer=name == "grid" and not args.no_peer,
            ),
        }
        print(name, {r: round(rows[name][r]["median_s"], 4) for r in RUNTIMES})
    lines = ["| model | eager ms/img | TorchScript ms/img | onnxruntime ms/img | onnxruntime vs eager |",
             "|---|---|---|---|---|"]  # fmt: skip

    def cell(r: dict) -> str:
        return f"{r['median_s'] * 1000:.1f} ± {r['sd_s'] * 1000:.1f}"

    for name, r in rows.items():
        lines.append(f"| {name} | {cell(r['eager'])} | {cell(r['torchscript'])} | "
                     f"{cell(r['onnxruntime'])} | {r['onnxruntime']['speedup_vs_eager']:.2f}x |")  # fmt: skip
    peer = rows.get("grid", {}).get("peer")
    if peer:
        lines += ["", "| ONNX, onnxruntime | graph ms/img | end to end ms/img |", "|---|---|---|"]
        for who in ("grid", "yolo26n"):
            lines.append(f"| {who} | {cell(peer[who + '_graph'])} | "
                         f"{cell(peer[who + '_end_to_end'])} |")  # fmt: skip
    md = "\n".join(lines)
    print(md)
    save(args.name, {"threads": args.threads, "images": args.images, "repeats": args.repeats,
                     "batch": 1,
                     "results": rows, "table": md})  # fmt: skip
    plot(rows, args.threads, RESULTS / f"{args.name}.png")


def plot(rows: dict, threads: int, path: Path) -> None:
    names = list(rows)
    series = {r: [rows[n][r]["median_s"] * 1000 for n in names] for r in RUNTIMES}
    grouped_bars(names, series, path, "ms per image (median)",
                 f"CPU latency, batch 1, {threads} threads")  # fmt: skip


if __name__ == "__main__":
    main()
