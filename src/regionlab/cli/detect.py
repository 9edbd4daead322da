"""``regionlab train detect``: object detection (sliding window, single-shot grid detector,
R-CNN, Fast R-CNN, Faster R-CNN)."""

from __future__ import annotations

import argparse

from regionlab.cli.common import base_dataset, classes_of, default_size, ints_type, say
from regionlab.cli.tasks import TaskCLI

# AdamW 2e-3 with warm-up and cosine decay, batch 16 (measured on Penn-Fudan and raccoon, see
# the closing note of the detection issue). COCO evaluation every 5 epochs: the sliding window
# costs seconds per image.
RECIPE = {"batch_size": 16, "lr": 2e-3, "eval_every": 5, "eval_batch_size": 16}
# Faster R-CNN: batch 8, measured on Penn-Fudan (15 min, 1 thread): AP 0.446 / AP50 0.871
# against 0.381 / 0.860 at batch 16 (twice the steps; the second stage samples per image).
MODEL_RECIPES = {"faster-rcnn": {"batch_size": 8}}


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def add_flags(p) -> None:
    p.add_argument(
        "--model",
        choices=["grid", "sliding-window", "rcnn", "fast-rcnn", "faster-rcnn"],
        default="grid",
        help="grid: a single-shot detector (every cell of a few feature maps predicts boxes "
        "and classes); sliding-window: a classification + localization CNN on every window; "
        "rcnn: a CNN on every selective-search proposal cut from the image; fast-rcnn: the "
        "proposals cut from one feature map; faster-rcnn: proposals from a learned RPN",
    )
    p.add_argument(
        "--size", type=int, help="square input side (default: the scenes' size, 320 for photos)"
    )
    p.add_argument("--mosaic", type=float, default=1.0, help="probability of a 2x2 mosaic")
    p.add_argument(
        "--mosaic-off",
        type=float,
        default=0.85,
        help="fraction of training after which mosaics stop (the last epochs see whole images)",
    )
    p.add_argument("--scale", type=float, nargs=2, default=[0.5, 1.5], help="random scale range")
    p.add_argument("--flip", type=float, default=0.5, help="horizontal flip probability")
    g = p.add_argument_group("grid detector")
    g.add_argument(
        "--backbone",
        default="csp",
        help="csp (ours, sized for a CPU) or a torchvision backbone: resnet18 | resnet50 | "
        "resnext50_32x4d | mobilenet_v3_large | mobilenet_v3_small",
    )
    g.add_argument("--pretrained", help="local torchvision state-dict file for the backbone")
    g.add_argument("--widths", type=ints_type, help="csp stem and stage widths")
    g.add_argument("--depths", type=ints_type, help="csp bottlenecks per stage")
    g.add_argument("--strides", type=ints_type, help="feature levels detected on (default 8,16,32)")
    g.add_argument(
        "--assigner",
        choices=["tal", "iou"],
        default="tal",
        help="tal: task-aligned assignment of anchor points, IoU-aware sigmoid scores; iou: K "
        "anchor boxes per cell matched by IoU, softmax with a background class (the notes' idea)",
    )
    g.add_argument("--anchors-per-cell", type=int, help="K boxes per cell for --assigner iou")
    g.add_argument("--nms-iou", type=float, help="NMS IoU threshold")
    w = p.add_argument_group("sliding-window detector")
    w.add_argument("--window", type=int, default=48, help="side each window is warped to")
    w.add_argument(
        "--window-sizes", type=_floats, help="window sides as fractions of the input side"
    )
    w.add_argument("--aspects", type=_floats, help="window aspect ratios (height / width)")
    w.add_argument("--window-stride", type=float, help="step, as a fraction of the window side")
    r = p.add_argument_group("R-CNN family (rcnn, fast-rcnn, faster-rcnn)")
    r.add_argument(
        "--crop",
        choices=["warp", "pad"],
        default="warp",
        help="rcnn: warp each proposal to a square (aspect changes) or pad it to one (grey)",
    )
    r.add_argument("--crop-size", type=int, default=64, help="rcnn: the warped crop's side")
    r.add_argument(
        "--context", type=int, default=8, help="rcnn: pixels of context at the warped scale"
    )
    r.add_argument(
        "--roi",
        choices=["align", "pool"],
        default="align",
        help="fast-rcnn, faster-rcnn: RoIAlign or RoIPool on the feature map",
    )
    add_scale_flags(r)
    r.add_argument(
        "--proposals",
        choices=["fast", "quality"],
        default="fast",
        help="rcnn, fast-rcnn: selective-search mode",
    )
    r.add_argument(
        "--top-proposals",
        type=int,
        default=2000,
        help="selective-search boxes kept (OpenCV ranks small regions first: recall at 1000 "
        "is well below recall at 2000, see regionlab proposals eval)",
    )
    r.add_argument(
        "--proposal-cache",
        help="folder caching selective-search boxes per image (default ~/.cache/regionlab)",
    )


def region_scale(args, size: int, learned: bool) -> dict:
    """Fast / Faster / Mask R-CNN's map and anchor settings for a ``size`` px input: a feature
    pyramid for ``learned`` proposals (an RPN) unless ``--no-fpn``; anchors of 4 and 8 strides
    on each level (2 and 4 up to 160 px, where objects are a few cells wide); without a
    pyramid, ``--stride`` (default 8 up to 160 px, else 16) and ``--anchor-sizes`` (default
    16-64 px up to 160 px, else 32-256)."""
    fpn = args.fpn if args.fpn is not None else learned
    small = size <= 160
    if fpn:
        scales = args.anchor_scales or ([2.0, 4.0] if small else [4.0, 8.0])
        out = {"fpn": True, "anchor_scales": scales}
        widths = getattr(args, "widths", None)
        if getattr(args, "backbone", "csp") == "csp" and widths:
            # the csp backbone has stride 2 ** (i + 1) after width i: its three coarsest
            out["fpn_strides"] = [2 ** (i + 1) for i in range(len(widths))][-3:]
        return out
    sizes = [16.0, 32.0, 64.0] if small else [32.0, 64.0, 128.0, 256.0]
    return {"fpn": False, "stride": getattr(args, "stride", None) or (8 if small else 16),
            "anchor_sizes": getattr(args, "anchor_sizes", None) or sizes}  # fmt: skip


def add_scale_flags(p) -> None:
    """``--fpn`` and ``--anchor-scales`` (Faster R-CNN and Mask R-CNN)."""
    p.add_argument(
        "--fpn",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="read regions from a feature pyramid (strides 8, 16, 32; the RPN on every level) "
        "instead of one map (default: on with an RPN, off for fast-rcnn)",
    )
    p.add_argument(
        "--anchor-scales",
        type=_floats,
        help="with --fpn: RPN anchor sides as multiples of each level's stride "
        "(default 4,8; 2,4 up to 160 px)",
    )


def build(args, train_set):
    from regionlab.models.detection.builders import DetectorSpec
    from regionlab.models.detection.grid import GridSpec
    from regionlab.models.detection.sliding_window import WindowSpec
    from regionlab.tasks.detection import DetectionTask

    classes = classes_of(train_set)
    if classes[0] != "background":
        raise ValueError(
            f"{args.data}: detection needs object classes after a background class, got "
            f"{classes} (a class-map dataset has no objects)"
        )
    size = args.size or default_size(args, train_set, (320, 320))[0]
    n = len(classes) - 1
    if args.model == "grid":
        opts = {
            "backbone": args.backbone,
            "pretrained": args.pretrained,
            "widths": args.widths,
            "depths": args.depths,
            "strides": args.strides,
            "assigner": args.assigner,
            "anchors_per_cell": args.anchors_per_cell,
            "nms_iou": args.nms_iou,
        }
        spec = DetectorSpec("grid", grid=GridSpec(n, **{k: v for k, v in opts.items() if v}))
    elif args.model in ("rcnn", "fast-rcnn", "faster-rcnn"):
        from regionlab.models.detection.rcnn import RegionSpec

        if args.model == "rcnn" and args.fpn:
            raise ValueError("--fpn reads regions from feature maps: fast-rcnn or faster-rcnn "
                             "(rcnn crops the image)")  # fmt: skip

        opts = {
            "backbone": args.backbone,
            "pretrained": args.pretrained,
            "widths": args.widths,
            "depths": args.depths,
            "nms_iou": args.nms_iou,
        }
        opts.update(region_scale(args, size, learned=args.model == "faster-rcnn"))
        region = RegionSpec(
            args.model,
            n,
            crop_size=args.crop_size,
            crop=args.crop,
            context=args.context,
            roi=args.roi,
            ss_mode=args.proposals,
            ss_top=args.top_proposals,
            cache=args.proposal_cache,
            **{k: v for k, v in opts.items() if v},
        )
        spec = DetectorSpec(args.model, region=region)
    else:
        opts = {
            "window": args.window,
            "sizes": args.window_sizes,
            "aspects": args.aspects,
            "stride": args.window_stride,
        }
        spec = DetectorSpec(
            "sliding-window", window=WindowSpec(n, **{k: v for k, v in opts.items() if v})
        )
    task = DetectionTask(
        spec, size, classes, args.mosaic, args.mosaic_off, tuple(args.scale), args.flip
    )
    if args.model == "sliding-window":
        model = task.build_model()
        say(f"sliding window: {model.num_windows(size)} windows per {size}x{size} image")
    return task


def task_class():
    from regionlab.tasks.detection import DetectionTask

    return DetectionTask


def draw(task, model, image, min_score: float = 0.3):
    from regionlab.viz.draw import draw_detections

    det = task.predict(model, image[None].float() / 255)[0]
    det = det[det.scores >= min_score]
    return draw_detections(image, det.boxes, det.labels.tolist(), det.scores.tolist(), task.classes)


def records(task, model, image, image_id) -> list[dict]:
    """COCO results entries for one image (labels as category ids 1..C)."""
    from regionlab.eval.detection import to_coco_results

    det = task.predict(model, image[None].float() / 255)[0]
    return to_coco_results([det], [image_id])


def export(task, model, dataset, path) -> int:
    """COCO results JSON of ``dataset`` (category ids as the dataset's own, for COCO files)."""
    import json

    from regionlab.eval.detection import to_coco_results

    base = base_dataset(dataset)
    cat_ids = getattr(base, "label_to_cat_id", None)
    out = []
    for i in range(len(dataset)):
        s = dataset[i]
        det = task.predict(model, s.image[None].float() / 255)[0]
        out += to_coco_results([det], [s.image_id], cat_ids)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f)
    return len(out)


CLI = TaskCLI(
    name="detect",
    help="object detection: a box, class and score for every object",
    add_flags=add_flags,
    build=build,
    task_class=task_class,
    draw=draw,
    recipe=RECIPE,
    model_recipes=MODEL_RECIPES,
    records=records,
    export=export,
)
