"""``regionlab train keypoints``: keypoint regression (pose) of one object per image."""

from __future__ import annotations

from regionlab.api.builders import BUILDERS
from regionlab.cli.common import (
    add_backbone_flags,
    add_multitask_flags,
    add_regression_flag,
    size_type,
)
from regionlab.cli.taskcli import TaskCLI

BUILD = BUILDERS["keypoints"]  # the task from these flags (regionlab.api.builders.dense)


def add_flags(p) -> None:
    add_backbone_flags(p, "default: 16, 32, ... one stage per halving of --size down to 4 px")
    p.add_argument(
        "--size",
        type=size_type,
        help="crop size N or HxW (default: scenes' own size; on files, from the data: the "
        "median image, aspect kept, longest side at most 128, never upscaled; printed at "
        "start)",
    )
    add_multitask_flags(p, "coords + lambda * visibility", 0.1)
    add_regression_flag(p, "coord-loss", "keypoint coordinate loss")
    p.add_argument(
        "--pck-ref",
        choices=["auto", "torso", "box"],
        default="auto",
        help="PCK reference length (auto: torso for 14-joint skeletons, else box size)",
    )
    p.add_argument("--pck-alpha", type=float, default=0.2, help="PCK threshold, x reference")
    p.add_argument("--margin", type=float, default=0.1, help="crop margin around the box")
    p.add_argument(
        "--rotate",
        type=float,
        help="training rotations, max degrees (default: 15 for body skeletons with left/right "
        "joints, 0 for keypoints ordered by position, like the scenes' outline points)",
    )
    p.add_argument("--dropout", type=float, default=0.2, help="dropout after the pooled neck")


def task_class():
    from regionlab.tasks.keypoints import KeypointTask

    return KeypointTask


CLI = TaskCLI(
    name="keypoints",
    help="keypoint regression (pose) of one object per image",
    add_flags=add_flags,
    build=BUILD.build,
    task_class=task_class,
    recipe=BUILD.recipe,
    tunable=True,
)
