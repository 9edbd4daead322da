"""What dense prediction costs, and which upsamplers leave a checkerboard.

1. Cost, per image, on the same ``(1, 3, size, size)`` input with 4 classes: parameters, forward
   FLOPs and inference time of the sliding-window patch classifier (``arch="patch"``), the
   full-resolution FCN (``arch="fcn"``), the encoder-decoder (``arch="encdec"``, bilinear, small
   backbone) and torchvision's LR-ASPP MobileNetV3-Large as a peer, each also as a ratio to the
   encoder-decoder. Time: median of ``--repeats`` timed forward passes at batch 1 after warm-up, in
   eval mode under ``torch.inference_mode``, on this machine's CPU threads. FLOPs: what
   ``torch.utils.flop_counter.FlopCounterMode`` counts for one forward pass, i.e. 2 x the
   multiply-accumulates of convolutions (transposed ones included) and matrix products; norms,
   activations, pooling, unpooling and resizing are not counted.

2. A checkerboard measure for each upsampler (nearest, bed of nails, max-unpooling, transposed
   convolution with kernel 3, 4 and 2 at stride 2, bilinear resize + 3x3 conv).

   Definition, for a map ``y`` of shape ``(C, H, W)`` and stride ``s`` (here 2): every position
   ``(i, j)`` belongs to one of the ``s * s`` phase classes ``(i mod s, j mod s)``. Per channel,
   take the mean of ``y`` over each phase class, then the (population) variance of those ``s * s``
   phase means; average it over channels and divide by the (population) variance of ``y`` over all
   positions, averaged over channels, plus ``eps``::

       checkerboard(y) = mean_c Var_(a,b)[ mean_(i,j in phase (a,b)) y[c,i,j] ]
                         / (mean_c Var_(i,j)[ y[c,i,j] ] + eps)

   Rows and columns beyond a whole number of periods are dropped first, so every phase class has
   the same number of positions; then the measure lies in ``[0, 1]`` (between-phase variance is a
   part of the total variance). 0: no periodic pattern at the stride (e.g. a constant map, or a
   nearest-neighbour upsampling, whose phase classes all hold the same values); 1: the map is
   purely periodic (e.g. bed-of-nails output of a constant: one phase is 1, the other three 0).
   For a batch ``(N, C, H, W)`` it is the mean over the ``N`` maps. Randomly initialised
   transposed convolutions of every kernel size score high on a constant input: each output phase
   sums a different subset of the kernel's weights (kernel 3 also overlaps unevenly), so only
   training can balance them.

   Reported (a) for each upsampler module on its own, randomly initialised (seeded), mapping
   ``(1, 8, 16, 16)`` to ``(1, 8, 32, 32)``, on a constant input of ones and on a random smooth
   input (seeded 4x4 noise resized bilinearly to 16x16); max-unpooling takes its indices from
   max-pooling a seeded random ``(1, 8, 32, 32)`` tensor. And (b) on the softmax output of an
   encoder-decoder (widths 16, 32, 64, 128) using that upsampler, trained with ``fit`` for
   ``--train-seconds`` on synthetic scenes (median-frequency class weights), averaged over the
   validation scenes, next to that model's validation mIoU.

    python benchmarks/segmentation_cost.py                  # about 10 minutes on a laptop CPU
    python benchmarks/segmentation_cost.py --quick          # smoke run, well under a minute

Writes benchmarks/results/segmentation_cost.json (``--quick``: segmentation_cost_quick.json, so
a smoke run never overwrites real numbers).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save  # noqa: E402

from regionlab.data.scenes import CLASSES, SceneConfig, SceneDataset  # noqa: E402
from regionlab.engine.config import TrainConfig  # noqa: E402
from regionlab.engine.trainer import fit  # noqa: E402
from regionlab.models.segmentation.builders import (  # noqa: E402
    SegmentationSpec,
    build_segmentation_model,
)
from regionlab.ops.upsample import make_upsampler  # noqa: E402
from regionlab.tasks.segmentation import SegmentationTask, median_frequency_weights  # noqa: E402

NUM_CLASSES = 4
#: (label, upsampler kind, transposed-conv kernel)
UPSAMPLER_CASES = [
    ("nearest", "nearest", 4),
    ("bed_of_nails", "bed_of_nails", 4),
    ("max_unpool", "max_unpool", 4),
    ("transposed_k3", "transposed", 3),
    ("transposed_k4", "transposed", 4),
    ("transposed_k2", "transposed", 2),
    ("bilinear", "bilinear", 4),
]
TRAINED_WIDTHS = [16, 32, 64, 128]


def checkerboard(y: torch.Tensor, stride: int = 2, eps: float = 1e-8) -> float:
    """Share of ``y``'s variance explained by its phase at ``stride`` (see the module docstring).

    ``y``: ``(C, H, W)``, or ``(N, C, H, W)`` for the mean over the batch, or ``(H, W)``.
    """
    y = y.detach().float()
    if y.dim() == 4:
        return sum(checkerboard(m, stride, eps) for m in y) / len(y)
    if y.dim() == 2:
        y = y[None]
    s = stride
    c, h, w = y.shape
    h, w = h - h % s, w - w % s
    if h == 0 or w == 0:
        raise ValueError(f"map {tuple(y.shape)} is smaller than one period of stride {s}")
    y = y[:, :h, :w]
    phase_means = y.reshape(c, h // s, s, w // s, s).mean(dim=(1, 3)).reshape(c, s * s)
    between = phase_means.var(dim=1, correction=0).mean()
    total = y.reshape(c, -1).var(dim=1, correction=0).mean()
    return float(between / (total + eps))


def count_flops(model: nn.Module, x: torch.Tensor) -> int:
    """Forward FLOPs of ``model(x)`` as FlopCounterMode counts them."""
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(x)
    return int(counter.get_total_flops())


def time_forward(model: nn.Module, x: torch.Tensor, repeats: int = 5, warmup: int = 2) -> float:
    """Median seconds of ``repeats`` forward passes after ``warmup`` untimed ones."""
    times = []
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        for _ in range(max(1, repeats)):
            t0 = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def cost(model: nn.Module, x: torch.Tensor, repeats: int = 5, warmup: int = 2) -> dict:
    """``{"params", "flops", "ms"}`` of one forward pass over ``x`` in eval mode."""
    model.eval()
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "flops": count_flops(model, x),
        "ms": 1000 * time_forward(model, x, repeats, warmup),
    }


def cost_models() -> dict[str, nn.Module]:
    """The three lecture architectures (default specs, 4 classes) and the torchvision peer."""
    models = {
        arch: build_segmentation_model(SegmentationSpec(NUM_CLASSES, arch=arch))
        for arch in ("patch", "fcn", "encdec")
    }
    try:
        from torchvision.models.segmentation import lraspp_mobilenet_v3_large
    except ImportError:
        return models
    models["lraspp_mbv3 (torchvision)"] = lraspp_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=NUM_CLASSES
    )
    return models


def measure_cost(size: int, repeats: int, warmup: int) -> dict:
    torch.manual_seed(0)
    x = torch.rand(1, 3, size, size)
    rows = {name: cost(m, x, repeats, warmup) for name, m in cost_models().items()}
    base = rows["encdec"]
    for r in rows.values():
        r["time_vs_encdec"] = r["ms"] / base["ms"]
        r["flops_vs_encdec"] = r["flops"] / base["flops"]
    return rows


def upsampler_module(kind: str, kernel: int, channels: int = 8, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return make_upsampler(kind, channels, channels, kernel=kernel).eval()


def module_checkerboard(kind: str, kernel: int, seed: int = 0) -> dict:
    """Checkerboard of one upsampler alone: ``(1, 8, 16, 16) -> (1, 8, 32, 32)``."""
    up = upsampler_module(kind, kernel, 8, seed)
    g = torch.Generator().manual_seed(seed)
    _, indices = F.max_pool2d(torch.rand(1, 8, 32, 32, generator=g), 2, return_indices=True)
    smooth = F.interpolate(
        torch.randn(1, 8, 4, 4, generator=g), size=(16, 16), mode="bilinear", align_corners=False
    )
    inputs = {"ones": torch.ones(1, 8, 16, 16), "smooth": smooth}
    with torch.inference_mode():
        return {
            name: checkerboard(up(x, indices=indices, output_size=(32, 32)))
            for name, x in inputs.items()
        }


def train_and_measure(kind, kernel, train, val, weights, size, seconds, out_dir) -> dict:
    """Train an encoder-decoder with this upsampler; checkerboard of its softmax on ``val``."""
    spec = SegmentationSpec(
        NUM_CLASSES, upsampler=kind, kernel=kernel, widths=TRAINED_WIDTHS, class_weights=weights
    )
    task = SegmentationTask(spec, (size, size), CLASSES)
    cfg = TrainConfig(
        epochs=None,
        minutes=seconds / 60,
        batch_size=16,
        lr=2e-3,
        progress=False,
        eval_every=10_000,
    )
    result = fit(task, train, val, cfg, out_dir, log=lambda *_: None)
    model = task.build_model()
    model.load_state_dict(torch.load(out_dir / "last.pt", weights_only=True)["model"])
    model.eval()
    plain = task.transform(train=False)
    images = task.collate([plain(val[i]) for i in range(len(val))]).images
    with torch.inference_mode():
        probs = model(images).logits.softmax(1)
    return {
        "checkerboard": checkerboard(probs),
        "miou": result.metrics["miou"],
        "steps": result.steps,
        "train_seconds": result.seconds,
    }


def measure_upsamplers(size: int, seconds: float, n_train: int, n_val: int) -> dict:
    cfg = SceneConfig(size=size)
    train = SceneDataset(n_train, seed=0, split="train", config=cfg)
    val = SceneDataset(n_val, seed=0, split="val", config=cfg)
    weights = median_frequency_weights(train, NUM_CLASSES)
    rows = {}
    with tempfile.TemporaryDirectory(prefix="segmentation_cost-") as tmp:
        for label, kind, kernel in UPSAMPLER_CASES:
            row = {f"module_{k}": v for k, v in module_checkerboard(kind, kernel).items()}
            trained = train_and_measure(
                kind, kernel, train, val, weights, size, seconds, Path(tmp) / label
            )
            rows[label] = {**row, **{f"trained_{k}": v for k, v in trained.items()}}
            print(
                f"  {label}: {trained['steps']} steps in {trained['train_seconds']:.1f} s, "
                f"val mIoU {trained['miou']:.3f}",
                flush=True,
            )
    return {"class_weights": weights, "rows": rows}


def _si(n: float) -> str:
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= div:
            return f"{n / div:.2f}{unit}"
    return f"{n:.0f}"


def print_cost(rows: dict, size: int) -> None:
    print(f"\nCost per image, input (1, 3, {size}, {size}), {NUM_CLASSES} classes")
    print(
        f"{'model':<26} {'params':>8} {'FLOPs':>9} {'ms/img':>9} {'time/encdec':>12} "
        f"{'FLOPs/encdec':>13}"
    )
    for name, r in rows.items():
        print(
            f"{name:<26} {_si(r['params']):>8} {_si(r['flops']):>9} {r['ms']:>9.2f} "
            f"{r['time_vs_encdec']:>11.2f}x {r['flops_vs_encdec']:>12.2f}x"
        )


def print_upsamplers(rows: dict, seconds: float, n_val: int) -> None:
    print(
        f"\nCheckerboard measure at stride 2 (0: none, 1: purely periodic); trained: "
        f"{seconds:g} s each, softmax over {n_val} val scenes"
    )
    print(
        f"{'upsampler':<15} {'module ones':>12} {'module smooth':>14} {'trained':>9} "
        f"{'val mIoU':>9} {'steps':>6}"
    )
    for name, r in rows.items():
        print(
            f"{name:<15} {r['module_ones']:>12.4f} {r['module_smooth']:>14.4f} "
            f"{r['trained_checkerboard']:>9.4f} {r['trained_miou']:>9.4f} "
            f"{r['trained_steps']:>6d}"
        )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=None, help="image side (default 64; quick 32)")
    ap.add_argument(
        "--train-seconds",
        type=float,
        default=None,
        help="training budget per upsampler (default 60; quick 2)",
    )
    ap.add_argument("--repeats", type=int, default=None, help="timed runs (default 7; quick 2)")
    ap.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: smaller defaults, 8 val scenes; explicit flags still win",
    )
    args = ap.parse_args(argv)
    q = args.quick
    size = args.size or (32 if q else 64)
    seconds = args.train_seconds if args.train_seconds is not None else (2.0 if q else 60.0)
    repeats = args.repeats or (2 if q else 7)
    warmup = 1 if q else 2
    n_train, n_val = 2000, 8 if q else 32

    t0 = time.perf_counter()
    costs = measure_cost(size, repeats, warmup)
    print_cost(costs, size)
    print(f"\nTraining {len(UPSAMPLER_CASES)} encoder-decoders for {seconds:g} s each", flush=True)
    ups = measure_upsamplers(size, seconds, n_train, n_val)
    print_upsamplers(ups["rows"], seconds, n_val)
    print(f"\ntotal {time.perf_counter() - t0:.1f} s")
    save(
        "segmentation_cost_quick" if q else "segmentation_cost",
        {
            "quick": q,
            "size": size,
            "num_classes": NUM_CLASSES,
            "repeats": repeats,
            "warmup": warmup,
            "train_seconds": seconds,
            "n_train": n_train,
            "n_val": n_val,
            "trained_widths": TRAINED_WIDTHS,
            "cost": costs,
            "upsamplers": ups,
        },
    )


if __name__ == "__main__":
    main()
