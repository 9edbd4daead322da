"""Does a timed run repeat? The same command and seed, run N times one after another.

Issue 22 asks that two runs of one command on an idle machine differ by less than 0.02 in the
main metric at 5 minutes. This runs a ``regionlab train`` command ``--runs`` times in a row
(same threads, fresh output folders) and reports, per run, the step count the budget fixed
(run.json's ``schedule``), the seconds it took and the final main metric, then the spread.
Identical step counts with the same seed and threads give identical weights; the table says
whether they did.

    python benchmarks/repeat.py --metric miou --seeds 0,1,2 --runs 2 -- train segment \\
        --data camvid:CamVid/train.txt --val camvid:CamVid/val.txt --minutes 5 --threads 2

Each ``--seeds`` value gets ``--runs`` repeats (``--seed S`` added to the command); the table
gives the spread of each seed's repeats and the mean ± sd over seeds of their first runs.
Writes benchmarks/results/repeat<tag>.json and .png (and prints a Markdown table). Run it on a quiet
machine: the point is what the same machine gives twice.
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


def table(runs: list[dict], metric: str) -> tuple[str, dict]:
    """A Markdown table of every run and the spread of each seed's repeats; the summary."""
    lines = [f"| seed | run | steps | train s | {metric} (last.pt) |", "|---|---|---|---|---|"]
    lines += [f"| {r['seed']} | {r['repeat']} | {r['steps']} | {r['train_seconds']} | "
              f"{r['final'][metric]:.4f} |" for r in runs]  # fmt: skip
    seeds = sorted({r["seed"] for r in runs})
    spreads, firsts = {}, []
    for seed in seeds:
        values = [r["final"][metric] for r in runs if r["seed"] == seed]
        spreads[seed] = max(values) - min(values)
        firsts.append(values[0])
    same = all(len({r["steps"] for r in runs if r["seed"] == s}) == 1 for s in seeds)
    mean = statistics.mean(firsts)
    sd = statistics.stdev(firsts) if len(firsts) > 1 else 0.0
    lines.append(f"\nrepeat spread per seed: {', '.join(f'{s}: {v:.4f}' for s, v in spreads.items())}"
                 f"; same step count within each seed: {same}; {metric} over seeds (first runs) "
                 f"{mean:.4f} ± {sd:.4f}")  # fmt: skip
    return "\n".join(lines), {"spread_per_seed": spreads, "max_spread": max(spreads.values()),
                              "same_steps": same, "mean": mean, "sd": sd}  # fmt: skip


def plot(runs: list[dict], metric: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    for r in runs:
        ax.scatter(r["seed"] + 0.08 * r["repeat"], r["final"][metric], marker="ox^v"[r["repeat"] % 4],
                   color=f"C{r['repeat']}", label=f"run {r['repeat']}" if r["seed"] == runs[0]["seed"] else None)  # fmt: skip
    for r in runs:  # the step count each run trained
        ax.annotate(str(r["steps"]), (r["seed"] + 0.08 * r["repeat"], r["final"][metric]),
                    textcoords="offset points", xytext=(6 if r["repeat"] else -24, -3), fontsize=8)  # fmt: skip
    ax.set_xlabel("seed (points: final metric; labels: steps trained)")
    ax.set_ylabel(f"{metric} (last.pt)")
    ax.set_xticks(sorted({r["seed"] for r in runs}))
    ax.legend()
    ax.set_title("same command, same seed, run again")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=2, help="repeats of each seed")
    ap.add_argument("--seeds", default="0", help="comma-separated seeds (--seed of each run)")
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
    for seed in [int(s) for s in args.seeds.split(",")]:
        for i in range(args.runs):
            out = workdir / f"seed{seed}_run{i}"
            r = {"seed": seed, "repeat": i,
                 **run_once([*command, "--seed", str(seed)], out, args.threads)}  # fmt: skip
            runs.append(r)
            print(f"seed {seed} run {i}: {r['steps']} steps, {r['train_seconds']} s, "
                  f"{args.metric} {r['final'].get(args.metric)}", flush=True)  # fmt: skip
    text, summary = table(runs, args.metric)
    print(text)
    path = save(f"repeat{args.tag}", {"train_command": "regionlab " + " ".join(command),
                                      "runs": runs, **summary, "table": text})  # fmt: skip
    plot(runs, args.metric, path.with_suffix(".png"))


if __name__ == "__main__":
    main()
