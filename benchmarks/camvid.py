"""CamVid (150 train / 50 val, 11 classes + void): regionlab's encoder-decoder vs torchvision's
LR-ASPP MobileNetV3-Large and SMP's U-Net ResNet-18, each trained from scratch for the same
wall-clock budget with the same data, input size, loss, optimiser and augmentation.

Only the architecture differs. Validation mIoU is computed at CamVid's native 360x480: each
model predicts at the training size and its logits are resized to the label size.

    pip install -e ".[bench]"
    python benchmarks/camvid.py --minutes 10            # all three, about 35 minutes
    python benchmarks/camvid.py --minutes 1 --only regionlab

Writes benchmarks/results/camvid.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATASETS, save  # noqa: E402

from regionlab.comparison.peer_segment import lraspp, peer_network, smp_unet  # noqa: E402
from regionlab.data.masks import CAMVID_CLASSES, camvid  # noqa: E402
from regionlab.engine.config import TrainConfig  # noqa: E402
from regionlab.engine.trainer import fit  # noqa: E402
from regionlab.eval.segmentation import ConfusionMatrix  # noqa: E402
from regionlab.models.segmentation.builders import SegmentationSpec  # noqa: E402
from regionlab.tasks.segmentation import SegmentationTask, median_frequency_weights  # noqa: E402


def peer_factory(name: str, n: int, weights, dice: float):
    """The peer network (regionlab.comparison.peer_segment's, as ``compare --peers`` trains
    it) behind our model contract, with the same loss as ours."""
    make = lraspp if name == "lraspp" else smp_unet
    return lambda: peer_network(make(n), weights, dice, 1 if name == "lraspp" else 32)


class PeerTask(SegmentationTask):
    def __init__(self, name: str, build, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.peer, self._build = name, build

    def spec_dict(self) -> dict:
        return {**super().spec_dict(), "peer": self.peer}

    def build_model(self) -> nn.Module:
        return self._build()


def native_miou(task, model, dataset) -> dict:
    """mIoU against the full-resolution labels (void ignored)."""
    cm = ConfusionMatrix(len(CAMVID_CLASSES))
    model.eval()
    for i in range(len(dataset)):
        s = dataset[i]
        pred = task.predict(model, s.image[None].float() / 255)
        cm.update(pred, s.semantic[None])
    m = cm.compute(CAMVID_CLASSES)
    return {"miou": m["miou"], "pixel_acc": m["pixel_acc"], "iou": m["iou"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--size", default="240x320")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument(
        "--backbone",
        default="mobilenet_v3_large",
        help="regionlab encoder: small or a torchvision name",
    )
    ap.add_argument("--widths", default="24,48,96,192", help="small encoder widths")
    ap.add_argument("--tag", default="", help="suffix of the results file name")
    ap.add_argument("--upsampler", default="transposed")
    ap.add_argument("--kernel", type=int, default=2)
    ap.add_argument("--dice", type=float, default=1.0, help="Dice weight, for every model")
    ap.add_argument("--only", nargs="*", default=["regionlab", "lraspp", "smp_unet"])
    ap.add_argument("--out", default="runs/bench_camvid")
    args = ap.parse_args()
    root = DATASETS / "camvid"
    if not root.exists():
        sys.exit(f"{root} not present: this benchmark needs the CamVid subset")
    h, w = (int(x) for x in args.size.split("x"))
    train, val = camvid(root / "train.txt"), camvid(root / "val.txt")
    n = len(CAMVID_CLASSES)
    weights = median_frequency_weights(train, n)
    cfg = TrainConfig(
        epochs=None,
        minutes=args.minutes,
        batch_size=args.batch_size,
        lr=args.lr,
        eval_every=10_000,
        progress=False,
    )
    results = {}
    for name in args.only:
        if name == "regionlab":
            spec = SegmentationSpec(
                n,
                widths=[int(x) for x in args.widths.split(",")],
                backbone=args.backbone,
                upsampler=args.upsampler,
                kernel=args.kernel,
                class_weights=weights,
                dice=args.dice,
            )
            task = SegmentationTask(spec, (h, w), CAMVID_CLASSES)
        else:
            task = PeerTask(
                name,
                peer_factory(name, n, weights, args.dice),
                SegmentationSpec(n),
                (h, w),
                CAMVID_CLASSES,
            )
        out = Path(args.out) / f"{name}-{int(time.time())}"
        t0 = time.perf_counter()
        r = fit(task, train, val, cfg, out, log=lambda *_: None)
        model = task.build_model()
        model.load_state_dict(torch.load(out / "last.pt", weights_only=True)["model"])
        t1 = time.perf_counter()
        m = native_miou(task, model, val)
        infer = (time.perf_counter() - t1) / len(val)
        params = sum(p.numel() for p in model.parameters())
        results[name] = {
            "miou": round(m["miou"], 4),
            "pixel_acc": round(m["pixel_acc"], 4),
            "iou": {k: round(v, 4) for k, v in m["iou"].items()},
            "steps": r.steps,
            "train_seconds": round(r.seconds, 1),
            "train_img_per_s": round(r.steps * args.batch_size / r.seconds, 2),
            "infer_s_per_img": round(infer, 4),
            "params": params,
            "wall_seconds": round(time.perf_counter() - t0, 1),
        }
        print(name, results[name], flush=True)
    base = results.get("regionlab", {}).get("miou")
    for name, r in results.items():
        if base and name != "regionlab":
            r["regionlab_miou_ratio"] = round(base / max(r["miou"], 1e-9), 2)
    save(
        f"camvid{args.tag}",
        {
            "minutes": args.minutes,
            "size": [h, w],
            "batch_size": args.batch_size,
            "lr": args.lr,
            "dice": args.dice,
            "class_weights": weights,
            "regionlab_model": {
                "backbone": args.backbone,
                "widths": args.widths,
                "upsampler": args.upsampler,
                "kernel": args.kernel,
            },
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
