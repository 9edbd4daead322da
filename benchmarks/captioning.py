"""Captioning and region-word alignment under one budget, on scenes and coco-mini.

Every run is ``regionlab train caption | align`` for ``--minutes`` (5 by default) on one
thread, two runs at a time; from each run's ``last.pt`` (not ``best.pt``, which validation
chose), captioners are then scored on validation with greedy and beam
(k = 3) decoding (BLEU-1..4 and CIDEr-D, equal to the COCO caption scorers), aligners with
retrieval R@1/5/10 and median rank next to chance and, on scenes, the alignment accuracy
(fraction of object nouns whose best region overlaps that object, IoU >= 0.5).

- scenes: LSTM decoder with the image as a first-step bias (the paper's multimodal RNN, our
  default), the image as first input (Show and Tell), and a vanilla tanh RNN decoder; the
  aligner with grid windows, ground-truth boxes (a ceiling) and, with ``--detector PATH`` (a
  ``regionlab train detect`` checkpoint on scenes, e.g. the grid detector of
  the ``detect-family-scenes`` suite of ``benchmarks/suite.py``), its top 19 boxes, the paper's choice.
- coco-mini (80 train / 79 val, 5 captions each): the default captioner next to two
  nearest-neighbour baselines that return the first caption of the most similar training image,
  by the trained captioner's CNN features and by 16 x 16 thumbnails; the aligner with grid
  windows.

    python benchmarks/captioning.py                       # 8 runs, about 25 minutes
    python benchmarks/captioning.py --only scenes --detector runs/family/scenes/grid/run/best.pt

Writes benchmarks/results/captioning.json and .png.
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
from _common import DATASETS, RESULTS, add_run_args, run_jobs, save  # noqa: E402

COCO = DATASETS / "coco-mini"
# Every run is scored from its last weights: best.pt is chosen on the very validation split
# this table reports, a choice the nearest-neighbour baselines do not get.
CHECKPOINT = "last.pt"


def _coco(split: str) -> str:
    return (f"coco:{COCO}/annotations/instances_{split}2017.json:{COCO}/{split}2017:"
            f"captions_file={COCO}/annotations/captions_{split}2017.json")  # fmt: skip


DATA = {"scenes": ("scenes", "scenes:n=200"), "coco-mini": (_coco("train"), _coco("val"))}

# setup -> run name -> (task, flags)
RUNS = {
    "scenes": {
        "lstm-bias": ("caption", []),
        "lstm-first": ("caption", ["--image-input", "first"]),
        "rnn-bias": ("caption", ["--cell", "rnn_tanh"]),
        "align-grid": ("align", []),
        "align-gt": ("align", ["--regions", "gt"]),
    },
    "coco-mini": {
        "lstm-bias": ("caption", []),
        "align-grid": ("align", []),
    },
}


def worker(setup: str, name: str, minutes: float, out: Path) -> None:
    task, flags = RUNS[setup][name]
    train, val = DATA[setup]
    cmd = ["regionlab", "train", task, *flags, "--data", train, "--val", val,
           "--minutes", str(minutes), "--threads", "1", "--out", str(out)]  # fmt: skip
    t0 = time.time()
    subprocess.run(cmd, check=True)
    res = {"command": " ".join(cmd), "wall_s": time.time() - t0}
    (out / "result.json").write_text(json.dumps(res))


def score(setup: str, name: str, run: Path) -> dict:
    """Validation metrics of a finished run (captioners: greedy and beam 3)."""
    import torch

    from regionlab.api.predictor import load_run
    from regionlab.api.specs import open_dataset
    from regionlab.engine.trainer import evaluate

    torch.set_num_threads(2)
    task, model, ckpt = load_run(run / CHECKPOINT)
    data = open_dataset(DATA[setup][1], split="val")
    cfg = ckpt.train_config(progress=False)
    out = {"steps": ckpt.state.step, "checkpoint": CHECKPOINT}
    if ckpt.task == "caption":
        for beam in (1, 3):
            task.beam = beam
            t0 = time.time()
            m = evaluate(task, model, data, cfg, torch.device("cpu"))
            out[f"beam{beam}"] = {k: m[k] for k in ("BLEU-1", "BLEU-4", "CIDEr-D")}
            out[f"beam{beam}"]["s_per_img"] = (time.time() - t0) / len(data)
    else:
        m = evaluate(task, model, data, cfg, torch.device("cpu"))
        out.update({k: v for k, v in m.items() if k != "loss"})
    return out


def nearest_neighbour(run: Path) -> dict:
    """coco-mini: the first caption of the nearest training image, by the captioner's CNN
    features (cosine) and by 16 x 16 thumbnails (Euclidean)."""
    import torch
    import torch.nn.functional as F

    from regionlab.api.predictor import load_run
    from regionlab.api.specs import open_dataset
    from regionlab.eval.captions import caption_scores
    from regionlab.tasks.common import resize_images

    task, model, _ = load_run(run / CHECKPOINT)
    train = open_dataset(DATA["coco-mini"][0], split="train")
    val = open_dataset(DATA["coco-mini"][1], split="val")

    def images(ds, size):
        return torch.stack([resize_images(ds[i].image[None].float() / 255, size)[0]
                            for i in range(len(ds))])  # fmt: skip

    refs = {i: val[i].captions for i in range(len(val))}
    firsts = [train[i].captions[0] for i in range(len(train))]
    out = {}
    with torch.inference_mode():
        tr, va = images(train, task.size), images(val, task.size)
        f_tr = F.normalize(model.encoder(model.normalize(tr)).features[-1].mean((2, 3)), dim=1)
        f_va = F.normalize(model.encoder(model.normalize(va)).features[-1].mean((2, 3)), dim=1)
        by_cnn = (f_va @ f_tr.T).argmax(1)
        t_tr, t_va = images(train, (16, 16)).flatten(1), images(val, (16, 16)).flatten(1)
        by_pixels = torch.cdist(t_va, t_tr).argmin(1)
    for name, nn_idx in (("nn-cnn", by_cnn), ("nn-thumbnail", by_pixels)):
        m = caption_scores({i: firsts[int(j)] for i, j in enumerate(nn_idx)}, refs)
        out[name] = {k: m[k] for k in ("BLEU-1", "BLEU-4", "CIDEr-D")}
    return out


def table(results: dict) -> str:
    rows = ["| setup | run | BLEU-4 greedy | CIDEr-D greedy | BLEU-4 beam 3 | CIDEr-D beam 3 |",
            "|---|---|---|---|---|---|"]  # fmt: skip
    for s, runs in results.items():
        for name, r in runs.items():
            if "beam1" in r:
                g, b = r["beam1"], r["beam3"]
                rows.append(f"| {s} | {name} | {g['BLEU-4']:.3f} | {g['CIDEr-D']:.3f} | "
                            f"{b['BLEU-4']:.3f} | {b['CIDEr-D']:.3f} |")  # fmt: skip
            elif "BLEU-4" in r:
                rows.append(f"| {s} | {name} | {r['BLEU-4']:.3f} | {r['CIDEr-D']:.3f} | | |")
    rows += ["", "| setup | run | i2t R@1/5/10 | t2i R@1/5/10 | med r (i2t, t2i) | chance t2i "
             "R@1/5/10 | align acc (chance) |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for s, runs in results.items():
        for name, r in runs.items():
            if "mean_R" in r:
                i2t = "/".join(f"{r[f'i2t_R@{k}']:.2f}" for k in (1, 5, 10))
                t2i = "/".join(f"{r[f't2i_R@{k}']:.2f}" for k in (1, 5, 10))
                ch = "/".join(f"{r[f'chance_t2i_R@{k}']:.3f}" for k in (1, 5, 10))
                acc = (f"{r['align_acc']:.3f} ({r['chance_align_acc']:.3f})"
                       if "align_acc" in r else "")  # fmt: skip
                rows.append(f"| {s} | {name} | {i2t} | {t2i} | {r['i2t_med_r']:g}, "
                            f"{r['t2i_med_r']:g} | {ch} | {acc} |")  # fmt: skip
    return "\n".join(rows)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    names, greedy, beam = [], [], []
    for s, runs in results.items():
        for name, r in runs.items():
            if "beam1" in r:
                names.append(f"{s}\n{name}")
                greedy.append(r["beam1"]["CIDEr-D"])
                beam.append(r["beam3"]["CIDEr-D"])
            elif "CIDEr-D" in r:
                names.append(f"{s}\n{name}")
                greedy.append(r["CIDEr-D"])
                beam.append(0.0)
    x = range(len(names))
    axes[0].bar([i - 0.2 for i in x], greedy, 0.4, label="greedy (baselines: their caption)")
    axes[0].bar([i + 0.2 for i in x], beam, 0.4, label="beam 3")
    axes[0].set_xticks(list(x), names, fontsize=7)
    axes[0].set_ylabel("CIDEr-D (validation)")
    axes[0].legend(fontsize=7)
    names, ours, chance = [], [], []
    for s, runs in results.items():
        for name, r in runs.items():
            if "mean_R" in r:
                names.append(f"{s}\n{name}")
                ours.append(r["t2i_R@5"])
                chance.append(r["chance_t2i_R@5"])
    x = range(len(names))
    axes[1].bar([i - 0.2 for i in x], ours, 0.4, label="sentence -> image R@5")
    axes[1].bar([i + 0.2 for i in x], chance, 0.4, label="chance")
    axes[1].set_xticks(list(x), names, fontsize=7)
    axes[1].set_ylim(0, 1)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"saved {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_run_args(ap, minutes=5.0)
    ap.add_argument("--detector", help="a scenes detect checkpoint: adds align-detector")
    args = ap.parse_args()
    if args.detector:
        RUNS["scenes"]["align-detector"] = ("align", ["--regions", f"detector:{args.detector}"])
    if args.worker:
        setup, name, out = args.worker
        worker(setup, name, args.minutes, Path(out))
        return
    setups = args.only.split(",") if args.only else list(RUNS)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="captioning_"))
    jobs = [(s, n) for s in setups for n in RUNS[s]]
    done = [j for j in jobs if (work / j[0] / j[1] / "result.json").exists()] if args.reuse else []
    print(f"{len(jobs)} runs in {work}, {args.parallel} at a time")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    extra = ["--minutes", str(args.minutes)] + (["--detector", args.detector] if args.detector
                                                  else [])  # fmt: skip
    run_jobs(Path(__file__), [j for j in jobs if j not in done], work, args.parallel, extra, env)
    results: dict = {}
    for s, n in jobs:
        run = work / s / n
        if not (run / "result.json").exists():
            log = work / s / f"{n}.worker.log"
            results.setdefault(s, {})[n] = {
                "error": log.read_text()[-500:] if log.exists() else "?"
            }
            continue
        results.setdefault(s, {})[n] = {**json.loads((run / "result.json").read_text()),
                                        **score(s, n, run)}  # fmt: skip
        if s == "coco-mini" and n == "lstm-bias":
            results[s].update(nearest_neighbour(run))
    md = table(results)
    print(md)
    save("captioning", {"minutes": args.minutes, "threads_per_run": 1,
                        "parallel": args.parallel, "results": results, "table": md})  # fmt: skip
    plot(results, RESULTS / "captioning.png")


if __name__ == "__main__":
    main()
