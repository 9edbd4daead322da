"""Instance segmentation: our Mask R-CNN against torchvision and Ultralytics, same budget, and
the Mask R-CNN paper's ablations.

Setups (each model trained from scratch for the same wall-clock budget, 1 torch thread each, two
runs at a time on the 2 cores, in the listed order; every one scored with the same COCO
evaluator, faster-coco-eval = pycocotools, boxes and masks, on the validation images' original
annotations):

- ``pennfudan``: Penn-Fudan pedestrians, file names sorted, first 120 train / last 50 val,
  15 minutes. ``mask-rcnn`` (``regionlab train instance``, default flags) runs beside
  ``yolo26n-seg``; then ``tv-maskrcnn-mnv3`` (torchvision ``MaskRCNN`` on a MobileNetV3-Large
  FPN backbone, the 320 px detector's settings) beside ``yolov8n-seg``; then
  ``tv-maskrcnn-r50`` (``maskrcnn_resnet50_fpn(weights=None, weights_backbone=None,
  min_size=512, max_size=512)``) beside the RoIPool ablation; then the other ablations.
- ``scenes``: built-in scenes, 5 minutes: RoIAlign vs RoIPool, sigmoid vs softmax masks.

Ablations (``regionlab train instance`` with one flag changed): ``mask-rcnn-pool`` (``--roi
pool``), ``mask-rcnn-softmax`` (``--mask-loss softmax``), ``mask-rcnn-resnet50`` /
``mask-rcnn-resnext50`` (``--backbone resnet50 | resnext50_32x4d``, from scratch like the rest).

torchvision's models train through our engine on our pipeline (letterbox, mosaic, scale, flip,
colour; AdamW 1e-3; batch 4 for MobileNetV3, 2 for ResNet-50). Ultralytics trains with its own
recipe (``YOLO_OFFLINE=1``, ``plots=False``, ``val=False``, ``time=`` the budget, ``imgsz=320``)
and predicts at ``conf=0.001, iou=0.7, max_det=100`` with masks at the original resolution.

Afterwards: test seconds per image (batch 1, 1 thread, alone) for every run, and for ours and
torchvision's R50-FPN Mask R-CNN the seconds per 512 px image and the peak resident memory of a
training step (batch 2, 512 px, in a fresh process).

    pip install -e ".[bench]"
    python benchmarks/instance.py                                  # about 90 minutes
    python benchmarks/instance.py --only scenes --minutes 2

Writes benchmarks/results/instance.json and instance.png.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATASETS, RESULTS, add_run_args, bar_plot, collect, run_jobs, save  # noqa: E402
from detection import _threads, _yolo_env  # noqa: E402

PF = DATASETS / "pennfudan"
PFI = f"instances:{PF}/PNGImages:{PF}/PedMasks"
TRAIN_PF = f"{PFI}:start=0,stop=120,class_name=person"
VAL_PF = f"{PFI}:start=120,class_name=person"

# name -> (minutes, train spec, val spec, runs in start order)
SETUPS = {
    "scenes": (5.0, "scenes", "scenes:n=100", ["mask-rcnn", "mask-rcnn-pool", "mask-rcnn-softmax"]),
    "pennfudan": (
        15.0,
        TRAIN_PF,
        VAL_PF,
        [
            "mask-rcnn",
            "yolo26n-seg",
            "tv-maskrcnn-mnv3",
            "yolov8n-seg",
            "tv-maskrcnn-r50",
            "mask-rcnn-pool",
            "mask-rcnn-softmax",
            "mask-rcnn-resnet50",
            "mask-rcnn-resnext50",
        ],
    ),  # fmt: skip
}
OURS = {
    "mask-rcnn": [],
    "mask-rcnn-pool": ["--roi", "pool"],
    "mask-rcnn-softmax": ["--mask-loss", "softmax"],
    "mask-rcnn-resnet50": ["--backbone", "resnet50"],
    "mask-rcnn-resnext50": ["--backbone", "resnext50_32x4d"],
}
METRICS = ("AP", "AP50", "AP75", "mask_AP", "mask_AP50", "mask_AP75")


# --------------------------------------------------------------------------- our runs


def run_ours(name: str, minutes: float, train: str, val: str, out: Path) -> dict:
    import subprocess

    from regionlab.engine.checkpoint import load_checkpoint

    cmd = ["regionlab", "train", "instance", *OURS[name], "--data", train, "--val", val,
           "--minutes", str(minutes), "--threads", "1", "--out", str(out)]  # fmt: skip
    with open(out.parent / f"{out.name}.log", "w") as log:
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)
    rows = [json.loads(line) for line in open(out / "metrics.jsonl")]
    vals = [r for r in rows if r["split"] == "val"]
    ck = load_checkpoint(out / "last.pt")
    seconds, images = ck["state"]["elapsed"], ck["state"]["step"] * ck["config"]["batch_size"]
    return {
        "command": " ".join(cmd),
        "metrics": {k: v for k, v in vals[-1].items() if k.startswith(("AP", "AR", "mask_"))},
        "train_seconds": seconds,
        "train_img_per_s": images / seconds,
        "curve": [(r["time"], r["AP50"], r["mask_AP50"]) for r in vals],
        "checkpoint": str(out / "last.pt"),
    }


# --------------------------------------------------------------------------- torchvision


def build_torchvision(kind: str, num_classes: int):
    """torchvision's Mask R-CNN behind our model contract (see ``detection.TorchvisionPeer``):
    losses in training mode, detections with mask probabilities in eval mode."""
    import torch
    from torch import nn
    from torchvision.models.detection import MaskRCNN, maskrcnn_resnet50_fpn
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.backbone_utils import mobilenet_backbone

    from regionlab.models.detection.output import DetectionOutput
    from regionlab.ops.detections import Detections

    common = dict(num_classes=num_classes + 1, box_score_thresh=0.001,
                  box_detections_per_img=100)  # fmt: skip
    if kind == "r50":
        net = maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, min_size=512,
                                    max_size=512, **common)  # fmt: skip
    else:  # fasterrcnn_mobilenet_v3_large_320_fpn's backbone, anchors and sizes, with masks
        # BatchNorm as torchvision's own builders choose without pretrained weights (the
        # default FrozenBatchNorm2d would be an identity: no normalisation at all)
        backbone = mobilenet_backbone(backbone_name="mobilenet_v3_large", weights=None, fpn=True,
                                      trainable_layers=6, norm_layer=nn.BatchNorm2d)  # fmt: skip
        anchors = AnchorGenerator(((32, 64, 128, 256, 512),) * 3, ((0.5, 1.0, 2.0),) * 3)
        net = MaskRCNN(backbone, rpn_anchor_generator=anchors, min_size=320, max_size=640,
                       rpn_pre_nms_top_n_test=150, rpn_post_nms_top_n_test=150,
                       rpn_score_thresh=0.05, **common)  # fmt: skip

    class Peer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, images, targets=None):
            imgs = list(images)
            if self.training:
                tv = [{"boxes": t.boxes[~t.iscrowd], "labels": t.labels[~t.iscrowd],
                       "masks": t.masks[~t.iscrowd].to(torch.uint8)} for t in targets]  # fmt: skip
                losses = self.net(imgs, tv)
                return DetectionOutput.from_detections([], loss=sum(losses.values()),
                                                       losses=losses)  # fmt: skip
            out = self.net(imgs)
            dets = [Detections(o["boxes"], o["labels"], o["scores"], masks=o["masks"][:, 0])
                    for o in out]  # fmt: skip
            return DetectionOutput.from_detections(dets, loss=torch.tensor(float("nan")))

    return Peer()


def _peer_task(kind: str, classes: list[str]):
    from regionlab.models.detection.region_spec import RegionSpec
    from regionlab.tasks.instance import InstanceTask

    class PeerTask(InstanceTask):
        def build_model(self):
            return build_torchvision(kind, len(self.classes) - 1)

    size = 512 if kind == "r50" else 320
    return PeerTask(RegionSpec("mask-rcnn", len(classes) - 1), size, classes)


def run_torchvision(kind: str, minutes: float, train: str, val: str, out: Path) -> dict:
    from regionlab.cli.specs import open_dataset
    from regionlab.engine.config import TrainConfig
    from regionlab.engine.trainer import fit

    _threads(1)
    tr, va = open_dataset(train), open_dataset(val, split="val")
    classes = list(getattr(tr, "dataset", tr).classes)
    task = _peer_task(kind, classes)
    batch = 2 if kind == "r50" else 4
    cfg = TrainConfig(epochs=None, minutes=minutes, batch_size=batch, lr=1e-3,
                      eval_every=10**6, eval_batch_size=2, threads=1, progress=False)  # fmt: skip
    res = fit(task, tr, va, cfg, out / "run", log=lambda *a: None)
    return {
        "metrics": {k: v for k, v in res.metrics.items() if k.startswith(("AP", "AR", "mask_"))},
        "train_seconds": res.seconds,
        "train_img_per_s": res.steps * cfg.batch_size / res.seconds,
        "checkpoint": str(out / "run" / "last.pt"),
    }


# --------------------------------------------------------------------------- Ultralytics


def export_yolo_seg(dataset, root: Path) -> list[Path]:
    """A dataset as a YOLO segmentation folder: ``images/`` (symlinks, or PNGs for scenes) and
    ``labels/*.txt`` with one normalised polygon per instance (the outer contour of its mask;
    of a mask in several pieces, the largest)."""
    import cv2
    import numpy as np
    from PIL import Image

    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(len(dataset)):
        s = dataset[i]
        src = Path(s.path) if s.path else None
        if src is not None and src.is_file():
            dst = root / "images" / f"{i:05d}{src.suffix}"
            if not dst.exists():
                dst.symlink_to(src.resolve())
        else:
            dst = root / "images" / f"{i:05d}.png"
            if not dst.exists():
                Image.fromarray(s.image.permute(1, 2, 0).numpy()).save(dst)
        h, w = s.image.shape[-2:]
        lines = []
        masks = s.masks.numpy() if s.masks is not None else []
        for m, c, crowd in zip(masks, s.labels.tolist(), s.iscrowd.tolist()):
            if crowd:
                continue
            contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL,
                                           cv2.CHAIN_APPROX_SIMPLE)  # fmt: skip
            if not contours:
                continue
            poly = max(contours, key=cv2.contourArea).reshape(-1, 2).astype(float)
            if len(poly) < 3:
                continue
            xy = " ".join(f"{x / w:.6f} {y / h:.6f}" for x, y in poly)
            lines.append(f"{c - 1} {xy}")
        (root / "labels" / f"{dst.stem}.txt").write_text("\n".join(lines) + "\n")
        paths.append(dst)
    return paths


def _yolo_predict(model, paths: list[Path]):
    import torch

    from regionlab.ops.detections import Detections

    dets = []
    for p in paths:
        r = model.predict(str(p), imgsz=320, conf=0.001, iou=0.7, max_det=100, device="cpu",
                          retina_masks=True, verbose=False)[0]  # fmt: skip
        b = r.boxes
        h, w = r.orig_shape
        masks = r.masks.data.float() if r.masks is not None else torch.zeros(0, h, w)
        dets.append(Detections(b.xyxy.float(), b.cls.long() + 1, b.conf.float(),
                               masks=masks))  # fmt: skip
    return dets


def run_yolo(cfg_name: str, minutes: float, train: str, val: str, out: Path) -> dict:
    _yolo_env()
    import ultralytics.utils.torch_utils as tu

    from regionlab.cli.specs import open_dataset

    tu.NUM_THREADS = 1
    _threads(1)
    from ultralytics import YOLO

    tr, va = open_dataset(train), open_dataset(val, split="val")
    classes = list(getattr(tr, "dataset", tr).classes)
    export_yolo_seg(tr, out / "data" / "train")
    val_paths = export_yolo_seg(va, out / "data" / "val")
    yaml = out / "data.yaml"
    yaml.write_text(f"path: {out / 'data'}\ntrain: train/images\nval: val/images\n"
                    f"names: {dict(enumerate(classes[1:]))}\n")  # fmt: skip
    model = YOLO(f"{cfg_name}.yaml")
    t0 = time.time()
    model.train(data=str(yaml), imgsz=320, device="cpu", workers=0, plots=False, val=False,
                time=minutes / 60, project=str(out), name="train", exist_ok=True,
                verbose=False, amp=False)  # fmt: skip
    seconds = time.time() - t0
    epochs = model.trainer.epoch + 1
    return {
        "metrics": score(_yolo_predict(model, val_paths), va, classes),
        "train_seconds": seconds,
        "train_img_per_s": epochs * len(tr) / seconds,
        "epochs": epochs,
        "checkpoint": str(out / "train" / "weights" / "last.pt"),
    }


def score(dets, va, classes: list[str]) -> dict:
    """Box and mask COCO metrics (as the instance task names them) of predictions in original
    pixels against the validation set's own annotations."""
    from regionlab.eval.detection import coco_evaluate
    from regionlab.ops.detections import Detections

    gts, sizes = [], []
    for i in range(len(va)):
        s = va[i]
        gts.append(Detections(s.boxes.float(), s.labels.long(), iscrowd=s.iscrowd.bool(),
                              masks=s.masks.bool()))  # fmt: skip
        sizes.append(tuple(s.image.shape[-2:]))
    preds = [Detections(d.boxes, d.labels, d.scores, masks=d.masks >= 0.5) for d in dets]
    out = {k: float(v) for k, v in coco_evaluate(preds, gts, sizes, classes).items()}
    segm = coco_evaluate(preds, gts, sizes, classes, iou_type="segm")
    out.update({f"mask_{k}": float(v) for k, v in segm.items()})
    return out


# --------------------------------------------------------------------------- one run (worker)


def worker(setup: str, name: str, minutes: float, out: Path) -> None:
    _, train, val, _ = SETUPS[setup]
    out.mkdir(parents=True, exist_ok=True)
    if name in OURS:
        res = run_ours(name, minutes, train, val, out / "run")
    elif name.startswith("tv-maskrcnn-"):
        res = run_torchvision(name.removeprefix("tv-maskrcnn-"), minutes, train, val, out)
    else:
        res = run_yolo(name, minutes, train, val, out)
    (out / "result.json").write_text(json.dumps(res, indent=2))


# --------------------------------------------------------------------------- cost


def _load(name: str, res: dict, classes: list[str]):
    """``(task, model)`` of a finished run of ours or torchvision's."""
    from regionlab.engine.checkpoint import load_checkpoint
    from regionlab.tasks.instance import InstanceTask

    ck = load_checkpoint(res["checkpoint"])
    if name in OURS:
        task = InstanceTask.from_spec_dict(ck["spec"])
        model = task.build_model()
    else:
        kind = name.removeprefix("tv-maskrcnn-")
        task, model = _peer_task(kind, classes), build_torchvision(kind, len(classes) - 1)
    model.load_state_dict(ck["model"])
    return task, model.eval()


def time_inference(setup: str, name: str, res: dict, n: int = 20) -> float:
    """Test seconds per image (batch 1, 1 thread, alone), on the validation images."""
    import torch

    from regionlab.cli.specs import open_dataset

    _threads(1)
    va = open_dataset(SETUPS[setup][2], split="val")
    classes = list(getattr(va, "dataset", va).classes)
    images = [va[i].image for i in range(min(n, len(va)))]
    if name in OURS or name.startswith("tv-"):
        task, model = _load(name, res, classes)

        def one(i):
            task.predict(model, images[i][None].float() / 255)
    else:
        _yolo_env()
        from ultralytics import YOLO

        model = YOLO(res["checkpoint"])
        paths = sorted((Path(res["checkpoint"]).parents[2] / "data" / "val" / "images").iterdir())

        def one(i):
            model.predict(str(paths[i]), imgsz=320, conf=0.001, iou=0.7, max_det=100,
                          device="cpu", retina_masks=True, verbose=False)  # fmt: skip

    with torch.no_grad():
        one(0)  # warm-up
        t = time.perf_counter()
        for i in range(len(images)):
            one(i)
    return (time.perf_counter() - t) / len(images)


def cost_512(name: str) -> dict:
    """Ours (default flags, at 512 px) or torchvision's R50-FPN Mask R-CNN, untrained: seconds
    per 512 px image (batch 1, 1 thread) and peak RSS of one training step (batch 2). Run in a
    fresh process so the peak is this model's alone."""
    import resource

    import torch

    from regionlab.data.scenes import SceneConfig, SceneDataset
    from regionlab.ops.detections import Detections

    _threads(1)
    data = SceneDataset(2, config=SceneConfig(size=512, max_objects=4))
    samples = [data[i] for i in range(2)]
    x = torch.stack([s.image for s in samples]).float() / 255
    targets = [Detections(s.boxes.float(), s.labels, iscrowd=s.iscrowd.bool(), masks=s.masks.bool())
               for s in samples]  # fmt: skip
    if name == "ours":
        from regionlab.cli.main import TASKS, build_parser

        args = build_parser().parse_args(["train", "instance", "--data", "scenes:size=512"])
        model = TASKS["instance"].build(args, data).build_model()
    else:
        model = build_torchvision("r50", 3)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    model.train()
    out = model(x, targets, generator=torch.Generator()) if name == "ours" else model(x, targets)
    out.loss.backward()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    model.eval()
    with torch.no_grad():
        _ = model(x[:1]).detections  # warm-up
        t = time.perf_counter()
        for _ in range(3):
            _ = model(x[:1]).detections
        sec = (time.perf_counter() - t) / 3
    return {"s_per_512px_image": sec, "train_step_peak_rss_mb": peak / 1024,
            "rss_before_step_mb": rss0 / 1024,
            "params_m": sum(p.numel() for p in model.parameters()) / 1e6}  # fmt: skip


# --------------------------------------------------------------------------- report


def table(results: dict) -> str:
    lines = ["| setup | model | box AP | box AP50 | mask AP | mask AP50 | train img/s | test s/img |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for setup, runs in results.items():
        for name, r in runs.items():
            if "metrics" not in r:
                lines.append(f"| {setup} | {name} | {r.get('error', '?')[:60]} |||||")
                continue
            m = r["metrics"]
            lines.append(
                f"| {setup} | {name} | {m['AP']:.3f} | {m['AP50']:.3f} | {m['mask_AP']:.3f} | "
                f"{m['mask_AP50']:.3f} | {r['train_img_per_s']:.1f} | "
                f"{r.get('test_s_per_img', float('nan')):.3f} |"
            )
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    titles = {s: f"{s} ({SETUPS[s][0]:g} min each)" for s in results}
    bar_plot(results, [("AP50", "box AP50"), ("mask_AP50", "mask AP50")], path, titles, width=6)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_run_args(ap, name="instance")
    ap.add_argument("--runs", help="comma-separated runs (default: each setup's)")
    ap.add_argument("--cost", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        setup, name, out = args.worker
        worker(setup, name, args.minutes or SETUPS[setup][0], Path(out))
        return
    if args.cost:
        print(json.dumps(cost_512(args.cost)))
        return
    setups = args.only.split(",") if args.only else list(SETUPS)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="instance_"))
    jobs = [(s, n) for s in setups
            for n in (args.runs.split(",") if args.runs else SETUPS[s][3])]  # fmt: skip
    print(f"{len(jobs)} runs in {work}, {args.parallel} at a time")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = [j for j in jobs if (work / j[0] / j[1] / "result.json").exists()] if args.reuse else []
    extra = ["--minutes", str(args.minutes)] if args.minutes else []
    run_jobs(Path(__file__), [j for j in jobs if j not in done], work, args.parallel, extra, env)
    results = collect(jobs, work)
    for s, runs in results.items():
        for n, r in runs.items():
            if "checkpoint" in r:
                r["test_s_per_img"] = time_inference(s, n, r)
    import subprocess

    cost = {}
    for name in ("ours", "tv-maskrcnn-r50"):
        p = subprocess.run([sys.executable, __file__, "--cost", name], capture_output=True,
                           text=True, env=env)  # fmt: skip
        cost[name] = json.loads(p.stdout.strip().splitlines()[-1]) if p.returncode == 0 else {
            "error": p.stderr.strip().splitlines()[-1] if p.stderr else "?"
        }  # fmt: skip
    md = table(results)
    print(md)
    print(json.dumps(cost, indent=1))
    budgets = {s: args.minutes or SETUPS[s][0] for s in results}
    save(args.name, {"minutes": budgets, "threads_per_run": 1, "parallel": args.parallel,
                     "results": results, "cost_512": cost, "table": md})  # fmt: skip
    plot(results, RESULTS / f"{args.name}.png")


if __name__ == "__main__":
    main()
