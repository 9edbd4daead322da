"""Does a timed run repeat? The same command and seed, run N times one after another.

Issue 22 asks that two runs of one command on an idle machine differ by less than 0.02 in the
main metric at 5 minutes. This runs a ``regionlab train`` command ``--runs`` times in a row
(same threads, fresh output folders) and reports, per run, the step count the budget fixed
(run.json's ``schedule``), the seconds it took and the final main metric, then the spread.
Identical step counts with the same seed and threads give identical weights; the table says
whether they did.

    python benchmarks/repeat.py --metric miou --runs 2 -- train segment \\
        --data camvid:CamVid/train.txt --val camvid:CamVid/val.txt --minutes 5 --threads 2

Writes benchmarks/results/repeat<tag>.json (and prints a Markdown table). Run it on a quiet
machine: the point is what the same machine gives twice.
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
from _common import save  # noqa: E402


def run_once(command: list[str], out: Path, threads: int | None) -> dict:
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    cmd = [sys.executable, "-m", "regionlab", *command, "--out", str(out)]
    t0 = time.time()
    with open(out.with_suffix(".log"), "w") as log:
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
    if rc != 0:
        tail = out.with_suffix(".log").read_text()[-1500:]
        raise SystemExit(f"run failed ({rc}):\n{tail}")
    summary = json.loads((out / "metrics.json").read_text())
    record = json.loads((out / "run.json").read_text())
    return {
        "steps": summary["steps"],
        "schedule": record.get("schedule"),
        "train_seconds": summary["train_seconds"],
        "wall_seconds": round(time.time() - t0, 1),
        "final": summary["final"],
        "best": summary["best"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--metric", required=True, help="the main metric, e.g. miou, loc_acc, pck")
    ap.add_argument("--threads", type=int, help="OMP_NUM_THREADS of each run")
    ap.add_argument("--tag", default="")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- train TASK --data ... ")
    args = ap.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command or command[0] != "train":
        ap.error("give the regionlab train command after --")
    workdir = Path(tempfile.mkdtemp(prefix="repeat_"))
    print(f"runs in {workdir}", flush=True)
    runs = []
    for i in range(args.runs):
        r = run_once(command, workdir / f"run{i}", args.threads)
        runs.append(r)
        print(f"run {i}: {r['steps']} steps, {r['train_seconds']} s, {args.metric} "
              f"{r['final'].get(args.metric)}", flush=True)  # fmt: skip
    values = [r["final"].get(args.metric) for r in runs]
    spread = max(values) - min(values)
    same_steps = len({r["steps"] for r in runs}) == 1
    lines = ["| run | steps | train s | " + args.metric + " |", "|---|---|---|---|"]
    lines += [f"| {i} | {r['steps']} | {r['train_seconds']} | {v:.4f} |"
              for i, (r, v) in enumerate(zip(runs, values))]  # fmt: skip
    lines.append(f"\nspread {spread:.4f}; same step count: {same_steps}")
    text = "\n".join(lines)
    print(text)
    save(f"repeat{args.tag}", {"command": "regionlab " + " ".join(command), "runs": runs,
                               "spread": spread, "same_steps": same_steps, "table": text})  # fmt: skip


if __name__ == "__main__":
    main()
