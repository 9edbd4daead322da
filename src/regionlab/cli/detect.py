"""``regionlab train detect``: object detection (sliding window, single-shot grid detector,
R-CNN, Fast R-CNN, Faster R-CNN)."""

from __future__ import annotations

from regionlab.cli.common import floats_type, given, ints_type, say
from regionlab.cli.detection_flags import (
    SAVE_JSON,
    add_detection_flags,
    add_scale_flags,
    backbone_spec,
    coco_records,
    region_scale,
    save_json,
)
from regionlab.cli.prepare import classes_of, default_size
from regionlab.cli.taskcli import TaskCLI

# AdamW 2e-3 with warm-up and cosine decay, batch 16 (measured on Penn-Fudan and raccoon, see
# the closing note of the detection issue). COCO evaluation every 5 epochs: the sliding window
# costs seconds per image.
RECIPE = {"batch_size": 16, "lr": 2e-3, "eval_every": 5, "eval_batch_size": 16}
# Faster R-CNN: batch 8, measured on Penn-Fudan (15 min, 1 thread): AP 0.446 / AP50 0.871
# against 0.381 / 0.860 at batch 16 (twice the steps; the second stage samples per image).
MODEL_RECIPES = {"faster-rcnn": {"batch_size": 8}}


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
    g = p.add_argument_group("grid detector")
    add_detection_flags(p, g)
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
        "--window-sizes", type=floats_type, help="window sides as fractions of the input side"
    )
    w.add_argument("--aspects", type=floats_type, help="window aspect ratios (height / width)")
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


def build(args, train_set):
    from regionlab.tasks.detection import DetectionTask

    classes = classes_of(train_set)
    if classes[0] != "background":
        raise ValueError(
            f"{args.data}: detection needs object classes after a background class, got "
            f"{classes} (a class-map dataset has no objects)"
        )
    size = args.size if args.size is not None else default_size(args, train_set, (320, 320))[0]
    n = len(classes) - 1
    if args.model == "grid":
        spec = _grid_spec(args, n)
    elif args.model in ("rcnn", "fast-rcnn", "faster-rcnn"):
        spec = _region_spec(args, n, size)
    else:
        spec = _window_spec(args, n)
    task = DetectionTask(
        spec, size, classes, args.mosaic, args.mosaic_off, tuple(args.scale), args.flip
    )
    if args.model == "sliding-window":
        windows = task.build_model().proposer.windows((size, size), "cpu")
        say(f"sliding window: {len(windows)} windows per {size}x{size} image")
    return task


# Each flag left unset (None) keeps the spec's default; any value given, 0 and [] included,
# goes to the spec, whose own checks then say what is wrong with it.


def _grid_spec(args, n: int):
    from regionlab.models.detection.specs import GridSpec

    opts = given(strides=args.strides, anchors_per_cell=args.anchors_per_cell,
                 nms_iou=args.nms_iou)  # fmt: skip
    return GridSpec(n, backbone=backbone_spec(args), assigner=args.assigner, **opts)


def _region_spec(args, n: int, size: int):
    from regionlab.models.detection.region_spec import RegionSpec

    if args.model == "rcnn" and args.fpn:
        raise ValueError("--fpn reads regions from feature maps: fast-rcnn or faster-rcnn "
                         "(rcnn crops the image)")  # fmt: skip
    opts = given(nms_iou=args.nms_iou)
    opts.update(region_scale(args, size, learned=args.model == "faster-rcnn"))
    return RegionSpec(
        args.model,
        n,
        backbone=backbone_spec(args, "small" if args.model == "rcnn" else "csp"),
        crop_size=args.crop_size,
        crop=args.crop,
        context=args.context,
        roi=args.roi,
        ss_mode=args.proposals,
        ss_top=args.top_proposals,
        cache=args.proposal_cache,
        **opts,
    )


def _window_spec(args, n: int):
    from regionlab.models.detection.specs import WindowSpec

    opts = given(
        window=args.window,
        sizes=args.window_sizes,
        aspects=args.aspects,
        stride=args.window_stride,
    )
    return WindowSpec(n, backbone=backbone_spec(args, "small"), **opts)


def task_class():
    from regionlab.tasks.detection import DetectionTask

    return DetectionTask


def draw(task, model, image, min_score: float = 0.3):
    from regionlab.viz.draw import draw_detections

    det = task.predict(model, image[None].float() / 255)[0]
    det = det[det.scores >= min_score]
    return draw_detections(image, det.boxes, det.labels.tolist(), det.scores.tolist(), task.classes)


CLI = TaskCLI(
    name="detect",
    help="object detection: a box, class and score for every object",
    add_flags=add_flags,
    build=build,
    task_class=task_class,
    draw=draw,
    recipe=RECIPE,
    model_recipes=MODEL_RECIPES,
    records=coco_records,
    eval_options=(SAVE_JSON,),
    after_eval=save_json,
)
