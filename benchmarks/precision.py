"""Does bf16 autocast train as well as fp32, and how much sooner? The same steps, both ways.

For each setup and seed this runs the same ``regionlab train`` command twice, with
``--precision fp32`` and ``--precision bf16``, for a fixed ``--steps`` (so the two see the
same batches and differ only in arithmetic), evaluating once at the end. It reports, for
every metric the task has, mean +- sd over seeds of each precision and of the paired
difference (bf16 - fp32), and the training seconds of each: a difference smaller than the
seeds' spread is "within noise".

    python benchmarks/precision.py --seeds 0,1,2 --threads 2

Splits: every setup trains and scores on parts of the *training* images of its set (Penn-Fudan
images 70-169 / 40-69, raccoon's train list 0-119 / 120-159, CamVid train 0-119 / 120-149,
LSPET 0-299 / 300-349), so no image that a headline table reports (Penn-Fudan 0-39, raccoon's
test list, CamVid val, LSPET 350-399) takes part in this choice. Writes
``benchmarks/results/precision<tag>.json`` and ``.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATASETS, save  # noqa: E402

PF = f"instances:{DATASETS}/pennfudan/PNGImages:{DATASETS}/pennfudan/PedMasks"
RACCOON = (
    f"voc:{DATASETS}/raccoon:images=images,annotations=annotations,split=data/train_labels.csv"
)
CAMVID = f"camvid:{DATASETS}/camvid/train.txt"
LSP = f"lsp:{DATASETS}/lspet"

# name -> (task, training args without --seed/--precision/--out, steps)
SETUPS = {
    "detect-grid": ("detect", ["--data", f"{PF}:start=70", "--val", f"{PF}:start=40,stop=70"], 300),
    "detect-faster-rcnn": (
        "detect",
        ["--model", "faster-rcnn", "--data", f"{PF}:start=70", "--val", f"{PF}:start=40,stop=70"],
        300,
    ),
    "instance-mask-rcnn": (
        "instance",
        ["--data", f"{PF}:start=70", "--val", f"{PF}:start=40,stop=70"],
        300,
    ),
    "segment-scenes": ("segment", ["--data", "scenes"], 400),
    "segment-camvid": (
        "segment",
        ["--data", f"{CAMVID}:stop=120", "--val", f"{CAMVID}:start=120"],
        200,
    ),
    "localize-raccoon": (
        "localize",
        ["--data", f"{RACCOON},stop=120", "--val", f"{RACCOON},start=120"],
        400,
    ),
    "keypoints-lspet": (
        "keypoints",
        ["--data", f"{LSP}:stop=300", "--val", f"{LSP}:start=300,stop=350"],
        400,
    ),
}


def run_once(
    task: str, args: list[str], steps: int, seed: int, precision: str, out: Path, threads: int
) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "REGIONLAB_STEP_CACHE": "off"}
    cmd = [sys.executable, "-m", "regionlab", "train", task, *args, "--steps", str(steps),
           "--seed", str(seed), "--precision", precision, "--threads", str(threads),
           "--eval-every", "100000", "--no-report", "--out", str(out)]  # fmt: skip
    t0 = time.time()
    with open(out.with_suffix(".log"), "w") as log:
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
    if rc != 0:
        raise SystemExit(
            f"run failed ({rc}): {' '.join(cmd)}\n{out.with_suffix('.log').read_text()[-1500:]}"
        )
    summary = json.loads((out / "metrics.json").read_text())
    record = json.loads((out / "run.json").read_text())
    final = {k: v for k, v in summary["final"].items() if isinstance(v, int | float)}
    return {"steps": summary["steps"], "train_seconds": summary["train_seconds"],
            "wall_seconds": round(time.time() - t0, 1), "final": final,
            "precision": record["runtime"].get("precision"), "command": " ".join(cmd[1:])}  # fmt: skip


def mean_sd(xs: list[float]) -> list[float]:
    return [statistics.mean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0]


def summarise(runs: dict) -> dict:
    """Per precision mean +- sd of every metric and of the seconds; the paired difference."""
    fp, bf = runs["fp32"], runs["bf16"]
    out = {"metrics": {}, "train_seconds": {}}
    for name in fp[0]["final"]:
        a = [r["final"][name] for r in fp]
        b = [r["final"][name] for r in bf]
        diff = [y - x for x, y in zip(a, b)]
        spread = max(mean_sd(a)[1], mean_sd(b)[1])
        out["metrics"][name] = {
            "fp32": mean_sd(a), "bf16": mean_sd(b), "bf16_minus_fp32": mean_sd(diff),
            "within_noise": abs(statistics.mean(diff)) <= spread,
        }  # fmt: skip
    for p in ("fp32", "bf16"):
        out["train_seconds"][p] = mean_sd([r["train_seconds"] for r in runs[p]])
    out["speedup"] = out["train_seconds"]["fp32"][0] / out["train_seconds"]["bf16"][0]
    return out


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, ax = plt.subplots(1, 2, figsize=(11, 3.6))
    for i, p in enumerate(("fp32", "bf16")):
        secs = [results[n]["summary"]["train_seconds"][p] for n in names]
        ax[0].barh([j + 0.4 * i for j in range(len(names))], [s[0] for s in secs], 0.4,
                   xerr=[s[1] for s in secs], label=p)  # fmt: skip
        main = [results[n]["summary"]["metrics"][results[n]["main"]][p] for n in names]
        ax[1].barh([j + 0.4 * i for j in range(len(names))], [m[0] for m in main], 0.4,
                   xerr=[m[1] for m in main], label=p)  # fmt: skip
    for a, title in zip(ax, ("training seconds (same steps)", "main metric (last.pt)")):
        a.set_yticks(
            [j + 0.2 for j in range(len(names))], [f"{n} ({results[n]['main']})" for n in names]
        )
        a.set_title(title)
        a.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


MAIN = {"detect": "AP", "instance": "mask_AP", "segment": "miou", "localize": "loc_acc",
        "keypoints": "pck"}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--setups", default=",".join(SETUPS))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tag", default="")
    a = ap.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    results = {}
    with tempfile.TemporaryDirectory(prefix="precision_") as tmp:
        for name in a.setups.split(","):
            task, args, steps = SETUPS[name]
            runs = {"fp32": [], "bf16": []}
            for seed in seeds:
                for p in ("fp32", "bf16"):
                    r = run_once(
                        task, args, steps, seed, p, Path(tmp) / f"{name}_{seed}_{p}", a.threads
                    )
                    runs[p].append(r)
                    print(name, seed, p, r["train_seconds"], r["final"].get(MAIN[task]), flush=True)
            results[name] = {"task": task, "steps": steps, "main": MAIN[task], "runs": runs,
                             "summary": summarise(runs)}  # fmt: skip
    name = f"precision{a.tag}"
    save(name, {"threads": a.threads, "seeds": seeds, "setups": results})
    plot(results, Path(__file__).resolve().parent / "results" / f"{name}.png")


if __name__ == "__main__":
    main()
