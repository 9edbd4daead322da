"""``regionlab train localize``: classification + localization of one object per image."""

from __future__ import annotations

from regionlab.api.builders import BUILDERS
from regionlab.cli.common import (
    add_backbone_flags,
    add_multitask_flags,
    add_regression_flag,
    size_type,
)
from regionlab.cli.taskcli import TaskCLI

BUILD = BUILDERS["localize"]  # the task from these flags (regionlab.api.builders.dense)


def add_flags(p) -> None:
    add_backbone_flags(p, "default: 16, 32, ... one stage per halving of --size down to 4 px")
    p.add_argument(
        "--size",
        type=size_type,
        help="input size N or HxW (default: scenes' own size; on files, from the data: the "
        "median image, aspect kept, longest side at most 160 and 128x128 pixels, never "
        "upscaled; printed at start)",
    )
    add_multitask_flags(p, "cls + lambda * box", 10.0)
    p.add_argument("--class-specific", action="store_true", help="one box per class")
    add_regression_flag(p, "box-loss", "box regression loss")
    p.add_argument(
        "--crop", type=float, nargs=2, default=[0.5, 1.0], help="area range of training crops"
    )


def task_class():
    from regionlab.tasks.localization import LocalizationTask

    return LocalizationTask


CLI = TaskCLI(
    name="localize",
    help="classification + localization: the class and box of one object per image",
    add_flags=add_flags,
    build=BUILD.build,
    task_class=task_class,
    recipe=BUILD.recipe,
    tunable=True,
)
