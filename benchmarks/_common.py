"""Helpers shared by the benchmark scripts (not part of the library)."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
RESULTS = ROOT / "benchmarks" / "results"


def machine() -> dict:
    """The machine block of a results file: Python, torch, threads and the package's machine
    record (CPU, cores, system)."""
    from regionlab.provenance import machine as package_machine

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        **package_machine(),
    }


def _conv_backward_flops(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation,
                         transposed, _output_padding, _groups, output_mask, out_shape=None,
                         **_) -> int:  # fmt: skip
    """A convolution's backward: the input gradient and the weight gradient each cost what its
    forward costs (the same multiply-adds, regrouped). torch 2.14's own formula leaves the
    weight gradient's count undivided by ``groups``, so a depthwise convolution's backward
    counted ``channels`` times too much (fixed upstream in pytorch/pytorch#183405)."""
    from torch.utils.flop_counter import conv_flop_count

    forward = conv_flop_count(x_shape, w_shape, grad_out_shape, transposed)
    return forward * (int(bool(output_mask[0])) + int(bool(output_mask[1])))


def step_flop_counter():
    """``FlopCounterMode`` for a training step (forward and backward), with the convolution
    backward counted right for grouped convolutions (see :func:`_conv_backward_flops`)."""
    from torch.utils.flop_counter import FlopCounterMode

    aten = torch.ops.aten
    return FlopCounterMode(
        display=False, custom_mapping={aten.convolution_backward: _conv_backward_flops}
    )


def provenance() -> dict:
    """The commit the numbers come from (``dirty``: with uncommitted changes), the regionlab
    version and the exact command, so a result file says what produced it: the package's one
    record (:func:`regionlab.provenance.provenance`), as every run and comparison writes it."""
    import sys

    from regionlab.provenance import provenance as package_provenance

    p = package_provenance(["python", *sys.argv])
    return {k: p[k] for k in ("regionlab", "commit", "dirty", "command")}


def save(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **provenance(), **data}, indent=2))
    print(f"saved {path}")
    return path


def val_curve(run: Path, metric: str) -> list[tuple[float, float]]:
    """``(training seconds, validation metric)`` of a run folder's ``metrics.jsonl``."""
    from regionlab.engine.metrics_log import read_rows, series

    return series(read_rows(Path(run) / "metrics.jsonl"), "val", metric, x="time")


def add_run_args(ap, name: str | None = None, minutes: float | None = None) -> None:
    """The flags of every benchmark that trains several runs through ``run_jobs``: ``--only``,
    ``--minutes`` (default ``minutes``; ``None``: each setup's own budget), ``--parallel``,
    ``--workdir``, ``--name`` (when the script names its results file; default ``name``),
    ``--reuse`` and the hidden ``--worker SETUP NAME OUT``."""
    import argparse

    ap.add_argument("--only", help="comma-separated setups (default: all)")
    ap.add_argument(
        "--minutes",
        type=float,
        default=minutes,
        help="budget of every run" if minutes else "override every setup's budget",
    )
    ap.add_argument("--parallel", type=int, default=2, help="runs at a time")
    ap.add_argument("--workdir", help="folder for the runs (default: a new temporary one)")
    if name:
        ap.add_argument("--name", default=name, help="results file name")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="keep runs of --workdir that finished (and add them to the table)",
    )
    ap.add_argument("--worker", nargs=3, metavar=("SETUP", "NAME", "OUT"), help=argparse.SUPPRESS)


def run_jobs(script: Path, jobs: list[tuple[str, str]], work: Path, parallel: int,
             extra: list[str], env: dict) -> None:  # fmt: skip
    """Run ``script --worker SETUP NAME WORK/SETUP/NAME [extra]`` for every ``(setup, name)``
    job, ``parallel`` at a time, in order; each worker's output goes to
    ``WORK/SETUP/NAME.worker.log`` and its result to ``WORK/SETUP/NAME/result.json``."""
    import subprocess
    import sys
    import time

    running, pending = [], list(jobs)
    while pending or running:
        while pending and len(running) < parallel:
            s, d = pending.pop(0)
            # absolute: Ultralytics files a relative project under its own runs folder
            out = (work / s / d).resolve()
            cmd = [sys.executable, str(script), "--worker", s, d, str(out), *extra]
            (work / s).mkdir(parents=True, exist_ok=True)
            log = open(work / s / f"{d}.worker.log", "w")
            running.append((s, d, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                                   env=env), log))  # fmt: skip
            print(f"  started {s}/{d}", flush=True)
        time.sleep(5)
        for job in list(running):
            if job[2].poll() is not None:
                job[3].close()
                running.remove(job)
                print(f"  finished {job[0]}/{job[1]} (rc {job[2].returncode})", flush=True)


def collect(jobs: list[tuple[str, str]], work: Path) -> dict:
    """``{setup: {name: result}}`` from the workers' ``result.json`` files; a run without one
    gets ``{"error": last line of its log}``."""
    results: dict = {}
    for s, d in jobs:
        f = work / s / d / "result.json"
        if f.exists():
            results.setdefault(s, {})[d] = json.loads(f.read_text())
        else:
            log = work / s / f"{d}.worker.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            results.setdefault(s, {})[d] = {"error": tail.strip().splitlines()[-1] if tail else "?"}
    return results


def bar_plot(results: dict, bars: list[tuple[str, str]], path: Path, titles: dict,
             width: float = 4.5) -> None:  # fmt: skip
    """One panel per setup of ``results`` (``{setup: {run: {"metrics": {...}}}}``), two or
    more bars per run (``bars``: ``(metric key, legend label)``), the first bar's values
    written above it; ``titles[setup]`` over each panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(width * len(results), 3.8), squeeze=False)
    w = 0.8 / len(bars)
    for ax, (setup, runs) in zip(axes[0], results.items()):
        names = [n for n in runs if "metrics" in runs[n]]
        x = range(len(names))
        for k, (key, label) in enumerate(bars):
            off = (k - (len(bars) - 1) / 2) * w
            vals = [runs[n]["metrics"][key] for n in names]
            ax.bar([i + off for i in x], vals, w, label=label)
            for i, v in zip(x, vals):
                ax.text(i + off, v + 0.01, f"{v:.2f}", ha="center", fontsize=6)
        ax.set_xticks(list(x), names, rotation=30, ha="right", fontsize=7)
        ax.set_ylim(0, 1)
        ax.set_title(titles[setup])
        ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"saved {path}")


def grouped_bars(
    groups: list[str],
    series: dict[str, list[float]],
    path: Path,
    ylabel: str,
    title: str,
    label: str | None = None,
    width: float = 1.8,
) -> None:
    """One group of bars per name in ``groups``, one bar per ``series`` entry (its values in
    ``groups``' order) side by side in each, each bar's value written above it in ``label``
    format (``None``: not written)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width * len(groups) + 2, 3.8))
    w = 0.8 / len(series)
    for k, (name, values) in enumerate(series.items()):
        xs = [i + (k - (len(series) - 1) / 2) * w for i in range(len(groups))]
        ax.bar(xs, values, w, label=name)
        for x, v in zip(xs, values) if label else ():
            ax.text(x, v, format(v, label), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="lower right")  # the values are written at the bars' tops
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def timed_passes(runners: dict, inputs: dict, repeats: int) -> dict[str, dict]:
    """Latency of each runner over its own list of inputs (``inputs[name]``, the same length
    for all): ``repeats`` rounds in which each runner, after one warm-up call, passes over all
    its inputs in turn, so a change of machine load hits them alike (whole passes, not input
    by input: onnxruntime's threads keep spinning a moment after each call and would slow the
    next runner's first input). Per runner: the median of all calls, the median of each pass
    and their sd, and every time (seconds)."""
    import statistics
    import time

    times = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            run(inputs[name][0])
            for x in inputs[name]:
                t0 = time.perf_counter()
                run(x)
                times[name].append(time.perf_counter() - t0)
    out = {}
    for name, t in times.items():
        n = len(inputs[name])
        passes = [statistics.median(t[k * n : (k + 1) * n]) for k in range(repeats)]
        out[name] = {"median_s": statistics.median(t), "pass_medians_s": passes,
                     "sd_s": statistics.stdev(passes) if repeats > 1 else 0.0, "all_s": t}  # fmt: skip
    return out
