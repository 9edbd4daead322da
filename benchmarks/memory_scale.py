"""Memory at scale (issue 21, item 5): a synthetic YOLO set of N images of S x S pixels (20,000
at 640 px by default), then, each in a fresh process, ``regionlab data check`` on it and a few
steps of ``train detect`` with ``--num-workers`` 0 and 2 and two sample-cache budgets.

Peak memory is sampled every 0.1 s by a thread while the phase runs (not ``ru_maxrss`` before and
after): ``VmRSS`` of the process, and RSS and PSS (``/proc/PID/smaps_rollup``, shared pages
divided among the processes sharing them) summed over the process and its children (the loader
workers). The stated bound: training's peak RSS exceeds that of the same run with the cache off by
at most the cache's budget (``cache_mb`` for training samples, a quarter for validation); with
workers (which persist for the run, each holding its own cache) each gets ``cache_mb / workers``
and validation none.

    python benchmarks/memory_scale.py                       # 20,000 x 640 px (~0.5 GB on disk)
    python benchmarks/memory_scale.py --n 400 --seconds 20  # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------- sampling


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return _status_kb(pid, "VmRSS")  # no smaps_rollup: RSS, an upper bound


def _descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, ValueError, IndexError):
            continue
    out, frontier = [], [pid]
    while frontier:
        kids = [c for c, p in parents.items() if p in frontier]
        out += kids
        frontier = kids
    return out


class PeakMemory(threading.Thread):
    """Samples this process and its children every ``every`` seconds until :meth:`stop`."""

    def __init__(self, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.every, self.done = every, threading.Event()
        self.peak = {"rss_self_mb": 0.0, "rss_total_mb": 0.0, "pss_total_mb": 0.0, "procs": 1}
        self.samples = 0

    def run(self) -> None:
        me = os.getpid()
        while not self.done.is_set():
            pids = [me, *_descendants(me)]
            now = {
                "rss_self_mb": _status_kb(me, "VmRSS") / 1024,
                "rss_total_mb": sum(_status_kb(p, "VmRSS") for p in pids) / 1024,
                "pss_total_mb": sum(_pss_kb(p) for p in pids) / 1024,
                "procs": len(pids),
            }
            self.peak = {k: max(v, now[k]) for k, v in self.peak.items()}
            self.samples += 1
            self.done.wait(self.every)

    def stop(self) -> dict:
        self.done.set()
        self.join()
        return {k: round(v, 1) for k, v in self.peak.items()} | {"samples": self.samples}


# ---------------------------------------------------------------------------- the data set


def make_set(root: Path, n: int, size: int) -> Path:
    """``root/images/train/NNNNN.jpg`` (smooth colours and one rectangle, ~20 KB as JPEG) and a
    label file with that rectangle; files already there are kept, so a set is made once."""
    import numpy as np
    from PIL import Image

    images, labels = root / "images" / "train", root / "labels" / "train"
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    (root / "classes.txt").write_text("box\n")
    ramp = np.linspace(0, 1, size, dtype=np.float32)
    for i in range(n):
        path = images / f"{i:05d}.jpg"
        if path.is_file():
            continue
        rng = np.random.default_rng(i)
        base = (
            rng.integers(0, 256, 3) * ramp[:, None, None]
            + rng.integers(0, 128, 3) * ramp[None, :, None]
        )
        x0, y0 = rng.integers(0, size // 2, 2)
        w, h = rng.integers(size // 8, size // 2, 2)
        arr = np.clip(base, 0, 255).astype(np.uint8)
        arr[y0 : y0 + h, x0 : x0 + w] = rng.integers(0, 256, 3)
        Image.fromarray(arr).save(path, quality=80)
        cx, cy = (x0 + w / 2) / size, (y0 + h / 2) / size
        (labels / f"{i:05d}.txt").write_text(f"0 {cx:.5f} {cy:.5f} {w / size:.5f} {h / size:.5f}\n")
    return root


# ---------------------------------------------------------------------------- phases


def phase_check(data: Path) -> dict:
    from regionlab.cli.main import main

    return {"exit": main(["data", "check", f"yolo:{data}"])}


def phase_train(data: Path, workers: int, cache_mb: float, seconds: float, check: str) -> dict:
    import regionlab

    with tempfile.TemporaryDirectory() as out:
        summary = regionlab.train(
            "detect", f"yolo:{data}", val=f"yolo:{data}:stop=16", minutes=seconds / 60,
            batch_size=8, num_workers=workers, cache_mb=cache_mb, threads=1, out=out,
            data_check=check, eval_every=1000, widths=[8, 16, 24, 32, 48], size=320,
        )  # fmt: skip
    return {"steps": summary["steps"]}


def run_phase(argv: list[str]) -> None:
    """Child process: run one phase under the sampler and print one JSON line."""
    ap = argparse.ArgumentParser()
    ap.add_argument("phase", choices=["check", "train"])
    ap.add_argument("data")
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--cache-mb", type=float, default=0)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--data-check", default="off")
    a = ap.parse_args(argv)
    # torch and the package's modules: the floor of every phase, measured before it starts
    import torch  # noqa: F401

    import regionlab.api.training  # noqa: F401
    import regionlab.cli.main  # noqa: F401
    import regionlab.data.yolo  # noqa: F401
    import regionlab.tasks.detection  # noqa: F401

    start = {"rss_after_imports_mb": round(_status_kb(os.getpid(), "VmRSS") / 1024, 1)}
    sampler = PeakMemory()
    sampler.start()
    t0 = time.perf_counter()
    if a.phase == "check":
        out = phase_check(Path(a.data))
    else:
        out = phase_train(Path(a.data), a.workers, a.cache_mb, a.seconds, a.data_check)
    peaks = sampler.stop()
    result = {**vars(a), **out, **start, **peaks, "wall_s": round(time.perf_counter() - t0, 1)}
    print("RESULT " + json.dumps(result), flush=True)


def _bound(results: list[dict], cache_mb: float) -> dict:
    """The stated bound: the cache adds at most its budget (training ``cache_mb``, validation a
    quarter) to the peak RSS, give or take 64 MB of allocator slack; with workers it is shared
    among them (their PSS is reported, not bounded here)."""
    off, on = results[1]["rss_self_mb"], results[2]["rss_self_mb"]
    allowed = 1.25 * cache_mb + 64
    return {
        "cache_growth_mb": round(on - off, 1),
        "allowed_mb": allowed,
        "within": on - off <= allowed,
        "check_over_imports_mb": round(
            results[0]["rss_self_mb"] - results[0]["rss_after_imports_mb"], 1
        ),  # fmt: skip
        "workers_pss_total_mb": results[3]["pss_total_mb"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000, help="images in the set")
    ap.add_argument("--size", type=int, default=640, help="image side in pixels")
    ap.add_argument("--dir", default=str(Path(tempfile.gettempdir()) / "regionlab_memory_scale"))
    ap.add_argument("--seconds", type=float, default=60, help="training budget of each run")
    ap.add_argument("--cache-mb", type=float, default=256, help="the cache budget tried")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "memory_scale.json"))
    a = ap.parse_args()
    data = make_set(Path(a.dir) / f"yolo_{a.n}_{a.size}", a.n, a.size)
    runs = [["check"]] + [
        ["train", "--workers", str(w), "--cache-mb", str(c), "--seconds", str(a.seconds)]
        for w, c in ((0, 0), (0, a.cache_mb), (2, a.cache_mb))
    ]
    results = []
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    for run in runs:
        cmd = [sys.executable, __file__, "--phase", run[0], str(data), *run[1:]]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
        if proc.returncode or not line:
            sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
        result = json.loads(line[0][7:])
        result["progress_lines"] = proc.stderr.count("samples (")
        results.append(result)
        print(json.dumps(result))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _common import machine, provenance

    record = {"n": a.n, "size": a.size, "machine": machine(), **provenance(), "runs": results,
              "bound": _bound(results, a.cache_mb)}  # fmt: skip
    print(json.dumps(record["bound"]))
    from regionlab.atomic import write_text_atomic

    write_text_atomic(a.out, json.dumps(record, indent=2) + "\n")
    print(a.out)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--phase":
        run_phase(sys.argv[2:])
    else:
        main()
