"""The ``regionlab`` command. The only place that turns user input into objects."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from regionlab.cli.specs import USAGE, SpecError, open_dataset
from regionlab.data.errors import DataError
from regionlab.data.io import load_image
from regionlab.data.transforms import flip_permutation
from regionlab.engine.checkpoint import CheckpointError, load_checkpoint
from regionlab.engine.config import TrainConfig, load_config
from regionlab.engine.growing import model_from_checkpoint
from regionlab.engine.trainer import NonFiniteLossError, evaluate, fit
from regionlab.engine.tune import cross_validate
from regionlab.models.localization.builders import KeypointSpec, LocalizationSpec
from regionlab.models.losses import REGRESSION_LOSSES, WEIGHTINGS
from regionlab.models.segmentation.builders import SEG_ARCHS, SegmentationSpec
from regionlab.ops.upsample import UPSAMPLERS
from regionlab.tasks.keypoints import KeypointTask
from regionlab.tasks.localization import LocalizationTask
from regionlab.tasks.segmentation import SegmentationTask, median_frequency_weights
from regionlab.viz.draw import (
    draw_boxes,
    draw_sample,
    draw_skeleton,
    learning_curve,
    overlay,
    side_by_side,
    to_pil,
    tune_curve,
)

# Task name (as stored in checkpoints) -> how to rebuild the task from the stored spec.
TASKS = {
    "segment": SegmentationTask.from_spec_dict,
    "localize": LocalizationTask.from_spec_dict,
    "keypoints": KeypointTask.from_spec_dict,
}


def _size(text: str) -> tuple[int, int]:
    try:
        if "x" in text:
            h, w = text.lower().split("x")
            return int(h), int(w)
        return int(text), int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be N or HxW, got {text!r}") from None


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def _free_dir(path: Path) -> Path:
    """``path`` if unused, else ``path-1``, ``path-2``, ... (never overwrite an earlier run)."""
    if not path.exists():
        return path
    k = 1
    while path.with_name(f"{path.name}-{k}").exists():
        k += 1
    return path.with_name(f"{path.name}-{k}")


def _train_config(args) -> TrainConfig:
    flags = {
        k: getattr(args, k)
        for k in (
            "epochs",
            "minutes",
            "batch_size",
            "lr",
            "seed",
            "num_workers",
            "threads",
            "device",
            "eval_every",
            "checkpoint_every",
            "optimizer",
            "grow",
        )
        if getattr(args, k, None) is not None
    }
    if flags.get("minutes") is not None and "epochs" not in flags:
        flags["epochs"] = None
    if args.config:
        return load_config(args.config, flags)
    return TrainConfig.from_dict(flags, source="command line")


def _split(train_set, args):
    """Validation set: ``--val SPEC``, the scene generator's own val stream, or a held-out
    fraction (reported, so no sample silently changes role)."""
    if args.val:
        return train_set, open_dataset(args.val, split="val")
    if args.data.split(":")[0] == "scenes":
        return train_set, open_dataset(args.data, split="val")
    n = len(train_set)
    k = max(1, int(round(n * args.val_fraction)))
    order = torch.randperm(n, generator=torch.Generator().manual_seed(args.seed or 0)).tolist()
    print(
        f"no --val given: holding out {k} of {n} samples ({args.val_fraction:.0%}) for validation"
    )
    return (
        torch.utils.data.Subset(train_set, order[k:]),
        torch.utils.data.Subset(train_set, order[:k]),
    )


def _classes(ds) -> list[str]:
    return list(_base(ds).classes)


def _segment_task(args, train_set) -> SegmentationTask:
    classes = _classes(train_set)
    weights = None
    if args.class_weights == "median_freq":
        weights = median_frequency_weights(train_set, len(classes))
        print("class weights (median frequency):", dict(zip(classes, weights)))
    spec = SegmentationSpec(
        num_classes=len(classes),
        arch=args.model,
        upsampler=args.upsampler,
        kernel=args.kernel,
        skips=not args.no_skips,
        backbone=args.backbone,
        widths=args.widths,
        pretrained=args.pretrained,
        class_weights=weights,
        dice=args.dice,
    )
    size = _default_size(args, train_set, (256, 320))
    return SegmentationTask(spec, size, classes, scale=tuple(args.scale))


def _base(ds):
    """The reader behind a ``Subset`` (held-out splits, folds)."""
    while isinstance(ds, torch.utils.data.Subset):
        ds = ds.dataset
    return ds


def _default_size(args, train_set, photos: tuple[int, int]) -> tuple[int, int]:
    """``--size``, else the scenes' own size, else a CPU-friendly size for photos."""
    if args.size:
        return args.size
    scene_cfg = getattr(_base(train_set), "config", None)
    return (scene_cfg.size,) * 2 if scene_cfg else photos


def _localize_task(args, train_set) -> LocalizationTask:
    classes = _classes(train_set)
    spec = LocalizationSpec(
        num_classes=len(classes) - 1,
        backbone=args.backbone,
        widths=args.widths,
        pretrained=args.pretrained,
        class_specific=args.class_specific,
        box_loss=args.box_loss,
        loss_weight=1.0 if args.loss_weight is None else args.loss_weight,
        weighting=args.loss_weighting,
        alpha=args.gradnorm_alpha,
    )
    return LocalizationTask(
        spec, _default_size(args, train_set, (192, 192)), classes, crop=tuple(args.crop)
    )


def _keypoint_task(args, train_set) -> KeypointTask:
    base = _base(train_set)
    k = getattr(base, "num_keypoints", 0)
    if not k:
        raise ValueError(
            f"{args.data} has no keypoints (for COCO, use person_keypoints_*.json and add "
            ":keypoints=true)"
        )
    names = list(getattr(base, "keypoint_names", []) or [])
    # Mirror only where names say which keypoint becomes which (left/right pairs).
    sided = any("left" in n or "right" in n for n in names)
    ref = args.pck_ref if args.pck_ref != "auto" else ("torso" if k == 14 else "box")
    spec = KeypointSpec(
        num_keypoints=k,
        backbone=args.backbone,
        widths=args.widths,
        pretrained=args.pretrained,
        coord_loss=args.coord_loss,
        loss_weight=0.1 if args.loss_weight is None else args.loss_weight,
        weighting=args.loss_weighting,
        alpha=args.gradnorm_alpha,
    )
    return KeypointTask(
        spec,
        _default_size(args, train_set, (128, 128)),
        _classes(train_set),
        ref=ref,
        flip_perm=flip_permutation(names) if sided else None,
        skeleton=[list(p) for p in getattr(base, "skeleton", [])],
        margin=args.margin,
        rotate=args.rotate,
    )


# Task name on the command line -> how to build it from the flags and the training set.
BUILDERS = {"segment": _segment_task, "localize": _localize_task, "keypoints": _keypoint_task}


def cmd_train(args) -> int:
    cfg = _train_config(args)
    train_set, val_set = _split(open_dataset(args.data, split="train"), args)
    task = BUILDERS[args.task](args, train_set)
    out = Path(args.out or f"runs/{task.name}")
    result = fit(task, train_set, val_set, cfg, out, resume=args.resume)
    _summarise(out, result, task, cfg)
    print(f"done: {result.steps} steps in {result.seconds:.0f} s; outputs in {out}/")
    return 0


def _summarise(out: Path, result, task, cfg: TrainConfig, extra: dict | None = None) -> None:
    rows = [json.loads(line) for line in open(out / "metrics.jsonl", encoding="utf-8")]
    train = [(r["step"], r["loss"]) for r in rows if r.get("split") == "train"]
    val = [(r["step"], r[task.main_metric]) for r in rows if r.get("split") == "val"]
    learning_curve(
        {"train loss": train, f"val {task.main_metric}": val}, out / "learning_curve.png"
    )
    summary = {
        "task": task.name,
        "spec": task.spec_dict(),
        "config": cfg.to_dict(),
        "steps": result.steps,
        "train_seconds": round(result.seconds, 1),
        "final": result.metrics,
        "best": result.best,
        **(extra or {}),
    }
    (out / "metrics.json").write_text(json.dumps(summary, indent=2))


def _load(ckpt_path: str):
    ckpt = load_checkpoint(ckpt_path)
    if ckpt["task"] not in TASKS:
        raise CheckpointError(f"{ckpt_path}: unknown task {ckpt['task']!r}")
    task = TASKS[ckpt["task"]](ckpt["spec"])
    model = model_from_checkpoint(task, ckpt)
    model.eval()
    return task, model, ckpt


def cmd_eval(args) -> int:
    task, model, ckpt = _load(args.checkpoint)
    data = open_dataset(args.data, split="val")
    if _classes(data) != task.classes:
        raise ValueError(
            f"{args.checkpoint} was trained on classes {task.classes}, but "
            f"{args.data} has {_classes(data)}"
        )
    cfg = TrainConfig.from_dict(
        {
            **ckpt["config"],
            "eval_batch_size": args.batch_size,
            "device": args.device or "auto",
            "progress": False,
        }
    )
    device = torch.device(
        "cuda"
        if cfg.device == "auto" and torch.cuda.is_available()
        else "cpu"
        if cfg.device == "auto"
        else cfg.device
    )
    metrics = evaluate(task, model.to(device), data, cfg, device)
    print(json.dumps(metrics, indent=2))
    return 0


def cmd_predict(args) -> int:
    task, model, _ = _load(args.checkpoint)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in args.images:
        img = load_image(path)
        dest = out / (Path(path).stem + "_pred.png")
        _draw_prediction(task, model, img).save(dest)
        print(dest)
    return 0


def _draw_prediction(task, model, img: torch.Tensor):
    """``img``: ``uint8 (3, H, W)`` -> a PIL picture of the task's prediction."""
    x = img[None].float() / 255
    if task.name == "localize":
        p = task.predict(model, x)
        label, score = int(p["labels"][0]), float(p["scores"][0])
        return draw_boxes(img, p["boxes"].tolist(), [f"{task.classes[label]} {score:.2f}"])
    if task.name == "keypoints":
        p = task.predict(model, x)
        return draw_skeleton(img, p["keypoints"][0], task.skeleton, p["visible"][0])
    pred = task.predict(model, x)[0]
    return side_by_side(to_pil(img), overlay(img, pred, len(task.classes)))


def cmd_tune(args) -> int:
    if args.loss_weighting != "fixed":
        raise ValueError("tune loss-weight chooses a fixed lambda; drop --loss-weighting")
    cfg = _train_config(args)
    data = open_dataset(args.data, split="train")
    builder = BUILDERS[args.task]
    metric = args.metric or builder(args, data).main_metric
    weights = [float(w) for w in args.weights.split(",") if w]
    if not weights or any(w <= 0 for w in weights) or len(set(weights)) != len(weights):
        raise ValueError(f"--weights must be distinct positive numbers, got {args.weights!r}")

    def make_task(weight: float):
        return builder(argparse.Namespace(**{**vars(args), "loss_weight": weight}), data)

    out = _free_dir(Path(args.out or f"runs/tune-{args.task}"))
    print(
        f"tuning the loss weight of {args.task}: {len(weights)} values x {args.folds} folds of "
        f"{len(data)} samples, metric {metric}; writing {out}/"
    )
    result = cross_validate(make_task, data, weights, args.folds, cfg, out, metric)
    tune_curve(result.rows, metric, out / "tune.png")
    print(result.table())
    print(f"wrote {out}/tune.md, {out}/tune.json, {out}/tune.png")
    return 0


def cmd_data_show(args) -> int:
    ds = open_dataset(args.spec)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(min(args.n, len(ds))):
        dest = out / f"sample_{i:03d}.png"
        draw_sample(ds[i], _classes(ds)).save(dest)
        print(dest)
    return 0


def cmd_demo(args) -> int:
    out = _free_dir(Path(args.out))
    print(
        f"regionlab demo: encoder-decoder segmentation on built-in scenes, "
        f"{args.minutes:g} min of training, writing {out}/"
    )
    size = args.size
    data = f"scenes:size={size}"
    train_set, val_set = open_dataset(data, split="train"), open_dataset(data, split="val")
    # Right-sized for a 2-core CPU: a narrow encoder, the cheapest learned upsampler (2x2
    # transposed convolution, no overlaps) and a loss that weighs the shape classes like mIoU
    # does (median-frequency class weights plus soft Dice). Chosen by measurement; see the
    # closing note of the foundation issue.
    weights = median_frequency_weights(train_set, len(train_set.classes))
    spec = SegmentationSpec(
        num_classes=len(train_set.classes),
        widths=[16, 32, 64, 128],
        upsampler="transposed",
        kernel=2,
        class_weights=weights,
        dice=1.0,
    )
    task = SegmentationTask(spec, (size, size), train_set.classes, scale=(1.0, 1.0))
    cfg = TrainConfig(
        epochs=None,
        minutes=args.minutes,
        batch_size=16,
        lr=2e-3,
        eval_every=1,
        progress=not args.quiet,
    )
    t0 = time.perf_counter()
    result = fit(task, train_set, val_set, cfg, out)
    wall = time.perf_counter() - t0
    # Overlays: image | ground truth | prediction, for the first validation scenes.
    _, model, _ = _load(str(out / "last.pt"))
    pred_dir = out / "predictions"
    pred_dir.mkdir(exist_ok=True)
    for i in range(6):
        s = val_set[i]
        pred = task.predict(model, s.image[None].float() / 255)[0]
        side_by_side(
            to_pil(s.image), overlay(s.image, s.semantic, 4, 0.6), overlay(s.image, pred, 4, 0.6)
        ).resize((3 * 4 * size, 4 * size), 0).save(pred_dir / f"val_{i:02d}.png")
    _summarise(out, result, task, cfg, {"wall_seconds": round(wall, 1)})
    m = result.metrics
    print(
        f"validation mIoU {m['miou']:.3f}, pixel accuracy {m['pixel_acc']:.3f} "
        f"after {result.steps} steps ({result.seconds:.0f} s of training)"
    )
    print(
        f"wrote {out}/metrics.json, {out}/learning_curve.png, {pred_dir}/val_*.png "
        "(image | truth | prediction), checkpoints last.pt and best.pt"
    )
    return 0


def _add_train_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help=f"training data spec: {USAGE}")
    p.add_argument(
        "--val",
        help="validation data spec (default: scenes' val stream, else a held-out --val-fraction)",
    )
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--out", help="output folder (default runs/<task>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    _add_budget_flags(p)
    p.add_argument(
        "--grow",
        help='growth schedule, e.g. "epoch=3:wider(encoder.stages.1,2x); '
        'epoch=6:deeper(encoder.stages.2)"',
    )
    p.add_argument(
        "--grow-mode",
        choices=["net2net", "morphism"],
        help="how widened layers get new units (default net2net)",
    )
    p.add_argument(
        "--grow-noise",
        type=float,
        help="relative noise on new units' incoming weights (breaks symmetry)",
    )


def _add_budget_flags(p: argparse.ArgumentParser) -> None:
    """How one training run goes (shared by ``train`` and ``tune``)."""
    p.add_argument("--config", help="training config file (.json or .toml); flags override it")
    p.add_argument("--epochs", type=int)
    p.add_argument("--minutes", type=float, help="wall-clock training budget")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--optimizer", choices=["adamw", "sgd"])
    p.add_argument("--seed", type=int)
    p.add_argument("--eval-every", type=int)
    p.add_argument("--checkpoint-every", type=int, help="also checkpoint every N steps")
    p.add_argument("--num-workers", type=int)
    p.add_argument("--threads", type=int)
    p.add_argument("--device")


def _add_backbone_flags(p: argparse.ArgumentParser, widths: list[int]) -> None:
    p.add_argument(
        "--backbone",
        default="small",
        help="small | resnet18 | resnet50 | resnext50_32x4d | mobilenet_v3_large | mobilenet_v3_small",
    )
    p.add_argument("--widths", type=_ints, default=widths, help="small backbone stage widths")
    p.add_argument("--pretrained", help="local torchvision state-dict file for the backbone")
    p.add_argument("--size", type=_size, help="input size N or HxW")


def _add_multitask_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--loss-weight",
        type=float,
        help="lambda of the second loss (localize: cls + lambda*box, default 1; keypoints: "
        "coords + lambda*visibility, default 0.1)",
    )
    p.add_argument(
        "--loss-weighting",
        choices=WEIGHTINGS,
        default="fixed",
        help="fixed lambda, learned homoscedastic uncertainty (Kendall et al. 2018; the total "
        "loss may go negative) or GradNorm (Chen et al. 2018)",
    )
    p.add_argument("--gradnorm-alpha", type=float, default=1.5)


def _add_localize_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--class-specific", action="store_true", help="one box per class")
    p.add_argument("--box-loss", choices=REGRESSION_LOSSES, default="smooth_l1")
    p.add_argument(
        "--crop", type=float, nargs=2, default=[0.5, 1.0], help="area range of training crops"
    )


def _add_keypoint_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--coord-loss", choices=REGRESSION_LOSSES, default="smooth_l1")
    p.add_argument(
        "--pck-ref",
        choices=["auto", "torso", "box"],
        default="auto",
        help="PCK reference length (auto: torso for 14-joint skeletons, else box size)",
    )
    p.add_argument("--margin", type=float, default=0.1, help="crop margin around the box")
    p.add_argument("--rotate", type=float, default=0.0, help="training rotations, max degrees")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="regionlab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="train and evaluate a segmentation model on built-in scenes")
    p.add_argument("--minutes", type=float, default=2.0)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_demo)

    train = sub.add_parser("train", help="train a model").add_subparsers(dest="task", required=True)
    p = train.add_parser("segment", help="semantic segmentation")
    _add_train_flags(p)
    p.add_argument("--model", choices=SEG_ARCHS, default="encdec")
    p.add_argument("--upsampler", choices=UPSAMPLERS, default="bilinear")
    p.add_argument("--kernel", type=int, default=4, help="transposed-conv kernel (stride 2)")
    p.add_argument("--no-skips", action="store_true")
    _add_backbone_flags(p, [32, 64, 128, 256])
    p.add_argument("--class-weights", choices=["none", "median_freq"], default="none")
    p.add_argument("--dice", type=float, default=0.0, help="weight of a soft Dice loss term")
    p.add_argument(
        "--scale",
        type=float,
        nargs=2,
        default=[0.75, 1.5],
        help="random scale range for augmentation",
    )
    p.set_defaults(func=cmd_train)

    p = train.add_parser("localize", help="classification + localization of one object")
    _add_train_flags(p)
    _add_backbone_flags(p, [16, 32, 64, 128])
    _add_multitask_flags(p)
    _add_localize_flags(p)
    p.set_defaults(func=cmd_train)

    p = train.add_parser("keypoints", help="keypoint regression (pose) of one object")
    _add_train_flags(p)
    _add_backbone_flags(p, [16, 32, 64, 128])
    _add_multitask_flags(p)
    _add_keypoint_flags(p)
    p.set_defaults(func=cmd_train)

    tune = sub.add_parser("tune", help="choose hyper-parameters by cross-validation")
    tune = tune.add_subparsers(dest="what", required=True)
    p = tune.add_parser(
        "loss-weight",
        help="k-fold cross-validate a task metric over loss weights lambda",
        description="Train one model per (lambda, fold) and score the held-out fold. "
        "--epochs gives every run the same number of steps; --minutes the same time.",
    )
    p.add_argument("--task", choices=["localize", "keypoints"], required=True)
    p.add_argument("--data", required=True, help=f"data spec: {USAGE}")
    p.add_argument("--weights", default="0.1,0.3,1,3,10", help="comma-separated lambdas")
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--metric", help="metric to maximise (default: the task's main metric)")
    p.add_argument("--out", help="output folder (default runs/tune-<task>)")
    _add_budget_flags(p)
    _add_backbone_flags(p, [16, 32, 64, 128])
    _add_multitask_flags(p)
    _add_localize_flags(p)
    _add_keypoint_flags(p)
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("eval", help="evaluate a checkpoint")
    p.add_argument("checkpoint")
    p.add_argument("--data", required=True, help=USAGE)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--device")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("predict", help="draw predictions for images")
    p.add_argument("checkpoint")
    p.add_argument("images", nargs="+")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_predict)

    data = sub.add_parser("data", help="inspect datasets").add_subparsers(
        dest="action", required=True
    )
    p = data.add_parser("show", help="render samples with their annotations to PNG")
    p.add_argument("spec", help=USAGE)
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=8)
    p.set_defaults(func=cmd_data_show)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (
        DataError,
        SpecError,
        CheckpointError,
        NonFiniteLossError,
        FileExistsError,
        FileNotFoundError,
        ValueError,
    ) as e:
        print(f"regionlab: error: {e}", file=sys.stderr)
        return 2
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


if __name__ == "__main__":
    raise SystemExit(main())
