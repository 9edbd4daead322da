"""``regionlab train keypoints``: keypoint regression (pose) of one object per image."""

from __future__ import annotations

from regionlab.cli.common import (
    add_backbone_flags,
    add_multitask_flags,
    add_regression_flag,
    auto_widths,
    size_type,
)
from regionlab.cli.prepare import classes_of, default_size
from regionlab.cli.taskcli import TaskCLI, base_dataset

# Measured on LSPET (closing note of the keypoint issue): 128 px, 5 stages, rotations of 15
# degrees and dropout 0.2 gave the best PCK@0.2 at a 10-minute budget.
RECIPE = {"batch_size": 16, "lr": 2e-3}


def add_flags(p) -> None:
    add_backbone_flags(p, "default: 16, 32, ... one stage per halving of --size down to 4 px")
    p.add_argument(
        "--size",
        type=size_type,
        help="crop size N or HxW (default: scenes' own size, 128 for photos)",
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


def build(args, train_set):
    from regionlab.data.transforms import flip_permutation
    from regionlab.models.localization.builders import KeypointSpec
    from regionlab.tasks.keypoints import KeypointTask

    base = base_dataset(train_set)
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
    size = default_size(args, train_set, (128, 128))
    spec = KeypointSpec(
        num_keypoints=k,
        backbone=args.backbone,
        widths=args.widths if args.widths is not None else auto_widths(size),
        pretrained=args.pretrained,
        coord_loss=args.coord_loss,
        loss_weight=args.loss_weight,
        weighting=args.loss_weighting,
        alpha=args.gradnorm_alpha,
        dropout=args.dropout,
    )
    return KeypointTask(
        spec,
        size,
        classes_of(train_set),
        ref=ref,
        flip_perm=flip_permutation(names) if sided else None,
        skeleton=[list(p) for p in getattr(base, "skeleton", [])],
        margin=args.margin,
        pck_alpha=args.pck_alpha,
        rotate=args.rotate if args.rotate is not None else (15.0 if sided else 0.0),
    )


def task_class():
    from regionlab.tasks.keypoints import KeypointTask

    return KeypointTask


def draw(task, model, image):
    from regionlab.viz.draw import draw_skeleton

    p = task.predict(model, image[None].float() / 255)
    return draw_skeleton(image, p["keypoints"][0], task.skeleton, p["visible"][0])


CLI = TaskCLI(
    name="keypoints",
    help="keypoint regression (pose) of one object per image",
    add_flags=add_flags,
    build=build,
    task_class=task_class,
    draw=draw,
    recipe=RECIPE,
    tunable=True,
)
