"""Do default flags reach the tuned commands? Each task's command line, three ways, same budget.

For each setup, three runs of the real CLI start together (1 torch thread each, so they share
the machine alike): ``before`` (the flags that were the defaults before the newcomer issue),
``default`` (no model flags at all: today's defaults) and ``tuned`` (the best command measured in
earlier benchmarks, as the README shows it). The table compares the validation metric at the
end of the budget.

    python benchmarks/defaults.py                       # every setup, budgets as listed
    python benchmarks/defaults.py --only seg_scenes --scale 0.5

Writes benchmarks/results/defaults.json (and prints a Markdown table).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATASETS, RESULTS, save  # noqa: E402

RACCOON = DATASETS / "raccoon"
VOC = f"voc:{RACCOON}:images=images,annotations=annotations"
LSPET = DATASETS / "lspet"
CAMVID = DATASETS / "camvid"

# name -> (minutes, metric, data flags, {variant: flags})
SETUPS: dict[str, tuple[float, str, list[str], dict[str, list[str]]]] = {
    "seg_scenes": (
        2.0,
        "miou",
        ["train", "segment", "--data", "scenes:size=64"],
        {
            "before": ["--upsampler", "bilinear", "--kernel", "4", "--class-weights", "none",
                       "--dice", "0", "--widths", "32,64,128,256", "--batch-size", "8"],
            "default": [],
            "tuned": ["--widths", "16,32,64,128", "--scale", "1", "1"],  # = regionlab demo
        },
    ),
    "loc_scenes": (
        5.0,
        "loc_acc",
        ["train", "localize", "--data", "scenes:size=64,max_objects=1"],
        {
            "before": ["--loss-weight", "1", "--batch-size", "8"],
            "default": [],
            "tuned": ["--widths", "16,32,64,128", "--batch-size", "32", "--loss-weight", "10"],
        },
    ),
    "loc_raccoon": (
        10.0,
        "loc_acc",
        ["train", "localize", "--data", f"{VOC},split=data/train_labels.csv",
         "--val", f"{VOC},split=data/test_labels.csv"],
        {
            "before": ["--size", "192", "--widths", "16,32,64,128", "--loss-weight", "1",
                       "--batch-size", "8"],
            "default": [],
            "tuned": ["--size", "128", "--widths", "16,32,64,128,256", "--loss-weight", "3"],
        },
    ),
    "kp_lspet": (
        10.0,
        "pck",
        ["train", "keypoints", "--data", f"lsp:{LSPET}:start=0,stop=300",
         "--val", f"lsp:{LSPET}:start=300,stop=400"],
        {
            "before": ["--widths", "16,32,64,128", "--rotate", "0", "--dropout", "0",
                       "--loss-weight", "0.1", "--batch-size", "8"],
            "default": [],
            "tuned": ["--size", "128", "--widths", "16,32,64,128,256", "--rotate", "15",
                      "--dropout", "0.2"],
        },
    ),
    "seg_camvid": (
        10.0,
        "miou",
        ["train", "segment", "--data", f"camvid:{CAMVID}/train.txt",
         "--val", f"camvid:{CAMVID}/val.txt"],
        {
            "before": ["--backbone", "small", "--upsampler", "bilinear", "--kernel", "4",
                       "--class-weights", "none", "--dice", "0", "--widths", "32,64,128,256",
                       "--batch-size", "8", "--size", "256x320"],
            "default": [],
            "tuned": ["--backbone", "mobilenet_v3_large", "--upsampler", "transposed",
                      "--kernel", "2", "--class-weights", "median_freq", "--dice", "1",
                      "--size", "240x320"],
        },
    ),
}  # fmt: skip


def run_setup(
    name: str, scale: float, workdir: Path, only: list[str] | None = None, sequential=False
) -> dict:
    """The setup's variants together at 1 thread each, or one after another at 2 threads
    (``sequential``: for photo sets, where three-way sharing leaves each run too few steps to
    say anything about a laptop user's run)."""
    minutes, metric, data, variants = SETUPS[name]
    minutes *= scale
    threads = 2 if sequential else 1
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    procs = {}
    for variant, flags in variants.items():
        if only and variant not in only:
            continue
        out = workdir / f"{name}_{variant}"
        cmd = [sys.executable, "-m", "regionlab", *data, *flags]
        cmd += ["--minutes", str(minutes), "--threads", str(threads), "--out", str(out)]
        log = open(workdir / f"{name}_{variant}.log", "w")
        procs[variant] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), cmd)
        if sequential:
            procs[variant][0].wait()
    result = {"minutes": minutes, "metric": metric, "threads": threads, "runs": {}}
    for variant, (p, cmd) in procs.items():
        p.wait()
        out = workdir / f"{name}_{variant}"
        if p.returncode != 0:
            tail = (workdir / f"{name}_{variant}.log").read_text()[-1500:]
            raise SystemExit(f"{name} {variant} failed:\n{tail}")
        summary = json.loads((out / "metrics.json").read_text())
        result["runs"][variant] = {
            "command": "regionlab " + " ".join(cmd[3:]),
            "final": summary["final"].get(metric),
            "best": summary["best"].get(metric),
            "steps": summary["steps"],
        }
        print(f"{name} {variant}: {metric} {result['runs'][variant]['final']:.3f}", flush=True)
    return result


def table(results: dict) -> str:
    lines = [
        "| setup | budget | metric | before | default | tuned | default - tuned |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        v = {k: r["runs"][k]["final"] if k in r["runs"] else float("nan")
             for k in ("before", "default", "tuned")}  # fmt: skip
        how = f"{r['minutes']:g} min, {r.get('threads', 1)} thr"
        lines.append(
            f"| {name} | {how} | {r['metric']} | {v['before']:.3f} | "
            f"{v['default']:.3f} | {v['tuned']:.3f} | {v['default'] - v['tuned']:+.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="*", default=list(SETUPS), choices=list(SETUPS))
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every budget")
    ap.add_argument("--tag", default="")
    ap.add_argument("--variants", nargs="*", help="only these of before/default/tuned")
    ap.add_argument("--sequential", action="store_true", help="one run at a time, 2 threads")
    ap.add_argument("--merge", action="store_true", help="update the saved results' setups")
    args = ap.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="defaults_"))
    print(f"runs in {workdir}", flush=True)
    results, t0 = {}, time.time()
    saved = RESULTS / f"defaults{args.tag}.json"
    if args.merge and saved.exists():
        results = json.loads(saved.read_text())["results"]
    for name in args.only:
        new = run_setup(name, args.scale, workdir, args.variants, args.sequential)
        if args.merge and name in results and args.variants:
            new["runs"] = {**results[name]["runs"], **new["runs"]}
        results[name] = new
    text = table(results)
    print(text)
    save(f"defaults{args.tag}", {"results": results, "table": text, "wall_s": time.time() - t0})


if __name__ == "__main__":
    main()
