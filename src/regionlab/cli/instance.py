"""``regionlab train instance``: instance segmentation (Mask R-CNN: a class, box, score and
mask for every object)."""

from __future__ import annotations

from regionlab.api.builders import BUILDERS
from regionlab.cli.common import floats_type
from regionlab.cli.detection_flags import (
    SAVE_JSON,
    add_detection_flags,
    add_scale_flags,
    save_json,
)
from regionlab.cli.taskcli import TaskCLI

BUILD = BUILDERS["instance"]  # the task from these flags (regionlab.api.builders.detection)


def add_flags(p) -> None:
    p.add_argument("--model", choices=["mask-rcnn"], default="mask-rcnn",
                   help="Faster R-CNN with a mask head on its regions")  # fmt: skip
    add_detection_flags(p)
    add_scale_flags(p)
    p.add_argument(
        "--stride",
        type=int,
        help="with --no-fpn: the one feature map of the RPN and the heads (default: 8 up to "
        "160 px, else 16)",
    )
    p.add_argument("--anchor-sizes", type=floats_type,
                   help="with --no-fpn: RPN anchor sides in pixels (default: 16,32,64 up to 160 "
                   "px, else 32,64,128,256)")  # fmt: skip
    p.add_argument(
        "--roi",
        choices=["align", "pool"],
        default="align",
        help="RoIAlign (the paper) or RoIPool (its ablation) for boxes and masks",
    )
    p.add_argument("--mask-size", type=int, default=28, help="m: each mask is m x m")
    p.add_argument(
        "--mask-loss",
        choices=["sigmoid", "softmax"],
        default="sigmoid",
        help="sigmoid: one binary mask per class, classes do not compete (the "
        "paper); softmax: classes compete at each pixel (its ablation)",
    )
    p.add_argument("--mask-width", type=int, default=32,
                   help="channels of the mask head (torchvision's: 256)")  # fmt: skip
    p.add_argument("--mask-convs", type=int, default=4, help="3x3 convolutions of the mask head")
    p.add_argument("--mask-score", choices=["box", "maskness"], default="maskness",
                   help="how masks are ranked (mask AP): box: by their box's class score "
                   "(the paper's); maskness: by that times the mask's mean probability over "
                   "the pixels it keeps (SOLO), so a hesitant mask ranks lower; boxes keep "
                   "their class score either way")  # fmt: skip
    p.add_argument("--mask-threshold", type=float, default=0.4,
                   help="the probability at which a predicted mask keeps a pixel (the paper: "
                   "0.5)")  # fmt: skip
    p.add_argument(
        "--keypoints",
        action="store_true",
        help="add the keypoint head (one heatmap per keypoint on the mask head's grid; needs a "
        "set with masks and keypoints: scenes, COCO person_keypoints with :keypoints=true); "
        "scored by COCO's OKS AP (kp_AP)",
    )


def task_class():
    from regionlab.tasks.instance import InstanceTask

    return InstanceTask


CLI = TaskCLI(
    name="instance",
    help="instance segmentation: a class, box, score and mask for every object (Mask R-CNN)",
    add_flags=add_flags,
    build=BUILD.build,
    task_class=task_class,
    recipe=BUILD.recipe,
    eval_options=(SAVE_JSON,),
    after_eval=save_json,
)
