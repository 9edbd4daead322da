"""``regionlab train detect``: object detection (sliding window, single-shot grid detector,
R-CNN, Fast R-CNN, Faster R-CNN)."""

from __future__ import annotations

from regionlab.api.builders import BUILDERS
from regionlab.cli.common import floats_type, ints_type
from regionlab.cli.detection_flags import (
    SAVE_JSON,
    add_detection_flags,
    add_scale_flags,
    save_json,
)
from regionlab.cli.taskcli import TaskCLI

BUILD = BUILDERS["detect"]  # the task from these flags (regionlab.api.builders.detection)


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


def task_class():
    from regionlab.tasks.detection import DetectionTask

    return DetectionTask


CLI = TaskCLI(
    name="detect",
    help="object detection: a box, class and score for every object",
    add_flags=add_flags,
    build=BUILD.build,
    task_class=task_class,
    recipe=BUILD.recipe,
    model_recipes=BUILD.model_recipes,
    eval_options=(SAVE_JSON,),
    after_eval=save_json,
)
