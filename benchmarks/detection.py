"""Object detection, part 1: our detectors against torchvision and Ultralytics, same budget.

Setups (each detector trained from scratch for the same wall-clock budget, 1 torch thread each,
two runs at a time on the 2 cores; every one scored with the same COCO evaluator,
faster-coco-eval = pycocotools, on the validation images' original annotations):

- ``scenes``: built-in multi-object scenes, 5 minutes: the grid and the sliding-window detector.
- ``raccoon``: ``../shared/datasets/raccoon`` with its 160/40 csv split, 15 minutes.
- ``pennfudan``: Penn-Fudan pedestrians' boxes, file names sorted, first 120 train / last 50
  val, 15 minutes.

Runs start in pairs in the listed order, so ``grid`` shares the machine with ``yolo26n``.

Detectors: ``grid`` and ``sliding-window`` (``regionlab train detect``, default flags),
``tv-frcnn`` (torchvision ``fasterrcnn_mobilenet_v3_large_320_fpn(weights=None,
weights_backbone=None)`` trained through our engine on our pipeline: letterbox 320, mosaic,
scale, flip, colour; AdamW 1e-3, batch 8), ``yolo26n`` / ``yolov8n`` (Ultralytics from their
YAML, no weights, their own training recipe, ``YOLO_OFFLINE=1``, ``plots=False``, ``val=False``,
``time=`` the budget; predictions at ``conf=0.001, iou=0.7, max_det=100``, YOLO26 in its default
one-to-many + NMS mode).

After training, every model's test seconds per image is timed alone (batch 1, 1 thread, the
validation images). Train images/s is images seen per training second.

    pip install -e ".[bench]"
    python benchmarks/detection.py                          # everything, about 75 minutes
    python benchmarks/detection.py --only pennfudan --detectors grid,yolo26n --minutes 5

Writes benchmarks/results/detection.json and detection.png.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATASETS, RESULTS, add_run_args, bar_plot, collect, run_jobs, save  # noqa: E402

# a dataset as a YOLO folder: the one copy, shared with `regionlab compare --peers yolo26n`
from regionlab.comparison.peer_yolo import export_yolo  # noqa: E402

PF = DATASETS / "pennfudan"
RACCOON = DATASETS / "raccoon"
VOC = f"voc:{RACCOON}:images=images,annotations=annotations"
PFI = f"instances:{PF}/PNGImages:{PF}/PedMasks"

# name -> (minutes, train spec, val spec, detectors)
SETUPS = {
    # 100 validation scenes: the sliding window evaluates seconds per image.
    "scenes": (5.0, "scenes", "scenes:n=100", ["grid", "sliding-window"]),
    "raccoon": (
        15.0,
        f"{VOC},split=data/train_labels.csv",
        f"{VOC},split=data/test_labels.csv",
        ["grid", "yolo26n", "tv-frcnn", "yolov8n"],
    ),
    "pennfudan": (
        15.0,
        f"{PFI}:start=0,stop=120,class_name=person",
        f"{PFI}:start=120,class_name=person",
        ["grid", "yolo26n", "tv-frcnn", "yolov8n"],
    ),
}
# Our detectors by name -> regionlab train detect flags (variants of one model included).
OURS = {
    "grid": ["--model", "grid"],
    "sliding-window": ["--model", "sliding-window"],
    "rcnn": ["--model", "rcnn"],
    "rcnn-pad": ["--model", "rcnn", "--crop", "pad"],
    "fast-rcnn": ["--model", "fast-rcnn"],
    "fast-rcnn-pool": ["--model", "fast-rcnn", "--roi", "pool"],
    "faster-rcnn": ["--model", "faster-rcnn"],
    "faster-rcnn-1map": ["--model", "faster-rcnn", "--no-fpn"],
}


# --------------------------------------------------------------------------- one run (worker)


def _threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process
        pass


def run_ours(detector: str, minutes: float, train: str, val: str, out: Path) -> dict:
    cmd = ["regionlab", "train", "detect", *OURS[detector], "--data", train, "--val", val,
           "--minutes", str(minutes), "--threads", "1", "--out", str(out)]  # fmt: skip
    with open(out.parent / f"{out.name}.log", "w") as log:
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)
    rows = [json.loads(line) for line in open(out / "metrics.jsonl")]
    vals = [r for r in rows if r["split"] == "val"]
    from regionlab.engine.checkpoint import load_checkpoint

    ck = load_checkpoint(out / "last.pt")
    seconds, images = ck["state"]["elapsed"], ck["state"]["step"] * ck["config"]["batch_size"]
    return {
        "command": " ".join(cmd),
        "metrics": {k: v for k, v in vals[-1].items() if k.startswith(("AP", "AR"))},
        "train_seconds": seconds,
        "train_img_per_s": images / seconds,
        "curve": [(r["time"], r["AP50"]) for r in vals],
        "checkpoint": str(out / "last.pt"),
    }


class TorchvisionPeer:
    """torchvision's Faster R-CNN behind our model contract: ``model(images, targets)`` returns a
    :class:`DetectionOutput` with its losses in training mode and its detections in eval mode
    (torchvision computes one or the other, so the evaluation loss is ``nan``)."""

    @staticmethod
    def build(num_classes: int):
        import torch
        from torch import nn
        from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_320_fpn

        from regionlab.models.detection.output import DetectionOutput
        from regionlab.ops.detections import Detections

        class Peer(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.net = fasterrcnn_mobilenet_v3_large_320_fpn(
                    weights=None,
                    weights_backbone=None,
                    num_classes=num_classes + 1,
                    box_score_thresh=0.001,
                    box_detections_per_img=100,
                )

            def forward(self, images, targets=None):
                imgs = list(images)
                if self.training:
                    tv = [{"boxes": t.boxes[~t.iscrowd], "labels": t.labels[~t.iscrowd]}
                          for t in targets]  # fmt: skip
                    losses = self.net(imgs, tv)
                    return DetectionOutput.from_detections(
                        [], loss=sum(losses.values()), losses=losses
                    )
                out = self.net(imgs)
                dets = [Detections(o["boxes"], o["labels"], o["scores"]) for o in out]
                nan = torch.tensor(float("nan"))
                return DetectionOutput.from_detections(dets, loss=nan)

        return Peer()


def run_torchvision(minutes: float, train: str, val: str, out: Path) -> dict:
    from regionlab.cli.specs import open_dataset
    from regionlab.engine.config import TrainConfig
    from regionlab.engine.trainer import fit
    from regionlab.models.detection.specs import GridSpec
    from regionlab.tasks.detection import DetectionTask

    _threads(1)
    tr, va = open_dataset(train), open_dataset(val, split="val")
    classes = list(getattr(tr, "dataset", tr).classes)

    class PeerTask(DetectionTask):
        def build_model(self):
            return TorchvisionPeer.build(len(self.classes) - 1)

    task = PeerTask(GridSpec(len(classes) - 1), 320, classes)
    cfg = TrainConfig(epochs=None, minutes=minutes, batch_size=8, lr=1e-3, eval_every=10**6,
                      threads=1, progress=False)  # fmt: skip
    res = fit(task, tr, va, cfg, out / "run", log=lambda *a: None)
    return {
        "metrics": {k: v for k, v in res.metrics.items() if k.startswith(("AP", "AR"))},
        "train_seconds": res.seconds,
        "train_img_per_s": res.steps * cfg.batch_size / res.seconds,
        "checkpoint": str(out / "run" / "last.pt"),
    }


def _yolo_env() -> None:
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import ultralytics.data.utils as du

    du.check_font = lambda *a, **k: None  # it would fetch Arial.ttf from the network


def run_yolo(cfg_name: str, minutes: float, train: str, val: str, out: Path) -> dict:
    _yolo_env()
    import ultralytics.utils.torch_utils as tu

    from regionlab.cli.specs import open_dataset

    tu.NUM_THREADS = 1
    _threads(1)
    from ultralytics import YOLO

    tr, va = open_dataset(train), open_dataset(val, split="val")
    classes = list(getattr(tr, "dataset", tr).classes)[1:]
    export_yolo(tr, out / "data" / "train")
    val_paths = export_yolo(va, out / "data" / "val")
    yaml = out / "data.yaml"
    yaml.write_text(
        f"path: {out / 'data'}\ntrain: train/images\nval: val/images\n"
        f"names: {dict(enumerate(classes))}\n"
    )
    model = YOLO(f"{cfg_name}.yaml")
    t0 = time.time()
    model.train(data=str(yaml), imgsz=320, device="cpu", workers=0, plots=False, val=False,
                time=minutes / 60, project=str(out), name="train", exist_ok=True,
                verbose=False, amp=False)  # fmt: skip
    seconds = time.time() - t0
    epochs = model.trainer.epoch + 1
    metrics = score_yolo(model, va, val_paths)
    return {
        "metrics": metrics,
        "train_seconds": seconds,
        "train_img_per_s": epochs * len(tr) / seconds,
        "epochs": epochs,
        "checkpoint": str(out / "train" / "weights" / "last.pt"),
    }


def _yolo_predict(model, paths):
    import torch

    from regionlab.ops.detections import Detections

    dets = []
    for p in paths:
        r = model.predict(str(p), imgsz=320, conf=0.001, iou=0.7, max_det=100, device="cpu",
                          verbose=False)[0]  # fmt: skip
        b = r.boxes
        dets.append(Detections(b.xyxy.float(), b.cls.long() + 1, b.conf.float()))
    return dets if dets else [Detections(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))]


def score_yolo(model, va, paths) -> dict:
    from regionlab.eval.detection import coco_evaluate
    from regionlab.tasks.detection import _detections

    dets = _yolo_predict(model, paths)
    gts, sizes = [], []
    for i in range(len(va)):
        s = va[i]
        gts.append(_detections(s))
        sizes.append(tuple(s.image.shape[-2:]))
    classes = ["background", *list(getattr(va, "dataset", va).classes)[1:]]
    m = coco_evaluate(dets, gts, sizes, classes)
    return {k: float(v) for k, v in m.items()}


def worker(setup: str, detector: str, minutes: float, out: Path) -> None:
    _, train, val, _ = SETUPS[setup]
    out.mkdir(parents=True, exist_ok=True)
    if detector in OURS:
        res = run_ours(detector, minutes, train, val, out / "run")
    elif detector == "tv-frcnn":
        res = run_torchvision(minutes, train, val, out)
    else:
        res = run_yolo(detector, minutes, train, val, out)
    (out / "result.json").write_text(json.dumps(res, indent=2))


# --------------------------------------------------------------------------- proposals

SELECTIVE = ("rcnn", "rcnn-pad", "fast-rcnn", "fast-rcnn-pool")


def _detect_task(setup: str, detector: str):
    """The task ``regionlab train detect`` builds for this run (its letterbox size)."""
    from regionlab.cli.main import TASKS, build_parser
    from regionlab.cli.specs import open_dataset

    _, train, val, _ = SETUPS[setup]
    args = build_parser().parse_args(["train", "detect", *OURS[detector], "--data", train,
                                      "--val", val])  # fmt: skip
    return (
        TASKS["detect"].build(args, open_dataset(train)),
        open_dataset(train),
        open_dataset(val, split="val"),
    )


def warm_proposals(setup: str, shard: int, shards: int) -> None:
    """Selective search on every image R-CNN and Fast R-CNN will see (each letterboxed training
    image and its mirror, each validation image), into the shared cache, so that no run pays
    for proposals inside its training budget -- the papers, too, computed them beforehand. Their
    cost is reported apart (``proposal_s_per_img``)."""
    from regionlab.data.transforms import hflip
    from regionlab.names import PROPOSAL_CACHE as DEFAULT_CACHE
    from regionlab.ops.proposals import ProposalCache

    _threads(1)
    task, tr, va = _detect_task(setup, "rcnn")
    plain = task.transform(False)
    cache = ProposalCache(DEFAULT_CACHE)
    spec = task.spec
    jobs = [(tr, i, f) for i in range(len(tr)) for f in (False, True)]
    jobs += [(va, i, False) for i in range(len(va))]
    for ds, i, flip in jobs[shard::shards]:
        from regionlab.data.sample import Sample

        img = plain(ds[i]).image
        if flip:
            img = hflip(Sample(img)).image
        cache.get(img, spec.ss_mode, spec.ss_max_side)


@functools.cache
def proposal_seconds(setup: str) -> float:
    """Mean selective-search seconds per validation image (as stored by the cache)."""
    from regionlab.names import PROPOSAL_CACHE as DEFAULT_CACHE
    from regionlab.ops.proposals import ProposalCache

    task, _, va = _detect_task(setup, "rcnn")
    plain = task.transform(False)
    cache = ProposalCache(DEFAULT_CACHE)
    spec = task.spec
    secs = [cache.get_timed(plain(va[i]).image, spec.ss_mode, spec.ss_max_side)[1]
            for i in range(len(va))]  # fmt: skip
    return sum(secs) / max(len(secs), 1)


def _warm_all(jobs: list, parallel: int, env: dict) -> None:
    need = sorted({s for s, d in jobs if d in SELECTIVE})
    for s in need:
        t0 = time.time()
        procs = [subprocess.Popen([sys.executable, __file__, "--warm", s, str(k), str(parallel)],
                                  env=env) for k in range(parallel)]  # fmt: skip
        if any(p.wait() for p in procs):
            raise SystemExit(f"selective search warm-up of {s} failed")
        print(f"  proposals of {s} cached in {time.time() - t0:.0f} s", flush=True)


# --------------------------------------------------------------------------- timing


def time_inference(setup: str, detector: str, res: dict, n: int = 20) -> float:
    """Test seconds per image, batch 1, 1 thread, alone on the machine."""
    import torch

    _threads(1)
    _, _, val, _ = SETUPS[setup]
    from regionlab.cli.specs import open_dataset

    va = open_dataset(val, split="val")
    images = [va[i].image for i in range(min(n, len(va)))]
    if detector in OURS or detector == "tv-frcnn":
        from regionlab.engine.checkpoint import load_checkpoint
        from regionlab.tasks.detection import DetectionTask

        if detector in OURS:
            ck = load_checkpoint(res["checkpoint"])
            task = DetectionTask.from_spec_dict(ck["spec"])
            model = task.build_model()
            model.load_state_dict(ck["model"])
        else:
            classes = list(getattr(va, "dataset", va).classes)
            model = TorchvisionPeer.build(len(classes) - 1)
            model.load_state_dict(load_checkpoint(res["checkpoint"])["model"])
            from regionlab.models.detection.specs import GridSpec

            task = DetectionTask(GridSpec(len(classes) - 1), 320,
                                 classes)  # fmt: skip
        model.eval()

        def one(img):
            task.predict(model, img[None].float() / 255)
    else:
        _yolo_env()
        from ultralytics import YOLO

        model = YOLO(res["checkpoint"])
        out = Path(res["checkpoint"]).parents[2]
        paths = sorted((out / "data" / "val" / "images").iterdir())[: len(images)]
        it = iter(paths)

        def one(img):
            model.predict(str(next(it)), imgsz=320, conf=0.001, iou=0.7, max_det=100,
                          device="cpu", verbose=False)  # fmt: skip

    with torch.no_grad():
        one(images[0])  # warm-up (oneDNN primitives, caches)
        if detector not in OURS and detector != "tv-frcnn":
            it = iter(paths)  # noqa: F841  (restart the file iterator)
        t = time.perf_counter()
        for img in images:
            one(img)
    return (time.perf_counter() - t) / len(images)


# --------------------------------------------------------------------------- orchestration


def table(results: dict) -> str:
    lines = ["| setup | detector | AP | AP50 | train img/s | test s/img | note |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for setup, runs in results.items():
        for det, r in runs.items():
            if "error" in r:
                lines.append(f"| {setup} | {det} | - | - | - | - | {r['error'][:60]} |")
                continue
            m = r["metrics"]
            note = r.get("note", "")
            if "proposal_s_per_img" in r:
                note = f"{note} + {r['proposal_s_per_img']:.2f} s/img selective search".strip()
            lines.append(
                f"| {setup} | {det} | {m['AP']:.3f} | {m['AP50']:.3f} | "
                f"{r['train_img_per_s']:.1f} | {r.get('test_s_per_img', float('nan')):.3f} | "
                f"{note} |"
            )
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    titles = {s: f"{s} ({SETUPS[s][0]:g} min)" for s in results}
    bar_plot(results, [("AP50", "AP50"), ("AP", "AP")], path, titles, width=4.5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_run_args(ap, name="detection")
    ap.add_argument("--detectors", help="comma-separated detectors (default: each setup's)")
    ap.add_argument("--warm", nargs=3, metavar=("SETUP", "SHARD", "SHARDS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        setup, det, out = args.worker
        worker(setup, det, args.minutes or SETUPS[setup][0], Path(out))
        return
    if args.warm:
        warm_proposals(args.warm[0], int(args.warm[1]), int(args.warm[2]))
        return
    setups = args.only.split(",") if args.only else list(SETUPS)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="detection_"))
    jobs = []
    for s in setups:
        dets = args.detectors.split(",") if args.detectors else SETUPS[s][3]
        jobs += [(s, d) for d in dets if d in SETUPS[s][3] or args.detectors]
    print(f"{len(jobs)} runs in {work}, {args.parallel} at a time")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = [j for j in jobs if (work / j[0] / j[1] / "result.json").exists()] if args.reuse else []
    pending = [j for j in jobs if j not in done]
    _warm_all(pending, args.parallel, env)
    extra = ["--minutes", str(args.minutes)] if args.minutes else []
    # the workers run the script that was started (detection_family.py sets its own budgets)
    run_jobs(Path(sys.argv[0]).resolve(), pending, work, args.parallel, extra, env)
    if args.reuse:  # finished runs of these setups in the workdir join the table too
        jobs += [(s, d) for s in setups for d in SETUPS[s][3]
                 if (s, d) not in jobs and (work / s / d / "result.json").exists()]  # fmt: skip
    results = collect(jobs, work)
    for s, runs in results.items():
        for d, r in runs.items():
            if "checkpoint" in r:
                r["test_s_per_img"] = time_inference(s, d, r)
            if d in SELECTIVE and "metrics" in r:
                # test_s_per_img reads cached proposals; selective search itself costs this
                r["proposal_s_per_img"] = proposal_seconds(s)
    if "scenes" in results and "sliding-window" in results["scenes"]:
        from regionlab.models.detection.specs import WindowSpec

        sw = results["scenes"]["sliding-window"]
        if "metrics" in sw:
            from regionlab.engine.checkpoint import load_checkpoint

            size = load_checkpoint(sw["checkpoint"])["spec"]["size"]
            n = len(WindowSpec(1).build().proposer.windows((size, size), "cpu"))
            sw["windows_per_image"] = n
            sw["note"] = f"{n} windows/image"
    md = table(results)
    print(md)
    budgets = {s: args.minutes or SETUPS[s][0] for s in results}
    save(args.name, {"minutes": budgets, "threads_per_run": 1, "parallel": args.parallel,
                     "results": results, "table": md})  # fmt: skip
    plot(results, RESULTS / f"{args.name}.png")


if __name__ == "__main__":
    main()
