"""``regionlab train instance``: instance segmentation (Mask R-CNN: a class, box, score and
mask for every object)."""

from __future__ import annotations

from regionlab.cli.common import floats_type, say
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
from regionlab.cli.taskcli import TaskCLI, base_dataset

RECIPE = {"batch_size": 8, "lr": 2e-3, "eval_every": 5, "eval_batch_size": 8}


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
    p.add_argument(
        "--keypoints",
        action="store_true",
        help="add the keypoint head (one heatmap per keypoint on the mask head's grid; needs a "
        "set with masks and keypoints: scenes, COCO person_keypoints with :keypoints=true); "
        "scored by COCO's OKS AP (kp_AP)",
    )


def build(args, train_set):
    from regionlab.models.detection.region_spec import (
        KeypointHeadSpec,
        MaskHeadSpec,
        RegionSpec,
    )
    from regionlab.tasks.instance import InstanceTask

    classes = classes_of(train_set)
    if classes[0] != "background":
        raise ValueError(f"{args.data}: instance segmentation needs object classes after a "
                         f"background class, got {classes}")  # fmt: skip
    size = args.size if args.size is not None else default_size(args, train_set, (320, 320))[0]
    kp = keypoint_options(args, train_set)
    k = kp.pop("keypoints", 0)
    m = MaskHeadSpec(args.mask_size, args.mask_loss, args.mask_width, args.mask_convs)
    spec = RegionSpec(
        "mask-rcnn",
        len(classes) - 1,
        backbone=backbone_spec(args),
        roi=args.roi,
        mask=m,
        keypoint=KeypointHeadSpec(k, m.size, m.width, m.convs) if k else None,
        **region_scale(args, size, learned=True),
    )
    return InstanceTask(spec, size, classes, mosaic=args.mosaic, mosaic_off=args.mosaic_off,
                        scale=tuple(args.scale), **kp)  # fmt: skip


def keypoint_options(args, train_set) -> dict:
    """``keypoints`` (K), ``flip``, ``flip_perm``, ``oks_sigmas`` and ``skeleton`` for
    :class:`InstanceTask` from the data: mirrors rename left and right keypoints, and a set
    whose keypoint names have no sides is not mirrored at all (which outline point of a
    mirrored triangle is "outline 2" is not a renaming)."""
    from regionlab.data.transforms import flip_permutation

    if not args.keypoints:
        return {"flip": args.flip}
    base = base_dataset(train_set)
    k = getattr(base, "num_keypoints", 0)
    if not k:
        raise ValueError(f"{args.data} has no keypoints (for COCO, use person_keypoints_*.json "
                         f"and add :keypoints=true)")  # fmt: skip
    names = list(getattr(base, "keypoint_names", []) or [])
    sided = any("left" in n or "right" in n for n in names)
    perm = flip_permutation(names) if sided else None
    if perm is None and args.flip:
        why = "a left/right name without its partner" if sided else "no left/right names"
        say(f"--keypoints: {args.data}'s keypoints have {why}, so no flips")
    return {
        "keypoints": k,
        "flip": args.flip if perm is not None else 0.0,
        "flip_perm": perm,
        "oks_sigmas": None,  # COCO's for 17 keypoints, else InstanceTask's default
        "skeleton": [list(p) for p in getattr(base, "skeleton", [])],
    }


def task_class():
    from regionlab.tasks.instance import InstanceTask

    return InstanceTask


def draw(task, model, image, min_score: float = 0.3):
    """Each instance painted in its own colour, with its box, class and score."""
    import numpy as np
    from PIL import Image

    from regionlab.viz.draw import draw_detections, draw_skeleton, palette

    det = task.predict(model, image[None].float() / 255)[0]
    det = det[det.scores >= min_score]
    rgb = image.permute(1, 2, 0).numpy().astype(np.float32)
    cols = palette(len(det) + 1)[1:].astype(np.float32)
    for m, c in zip(det.masks.numpy() >= 0.5, cols):
        rgb[m] = 0.45 * rgb[m] + 0.55 * c
    pic = Image.fromarray(rgb.round().clip(0, 255).astype(np.uint8))
    if det.keypoints is not None:
        for kps in det.keypoints:
            pic = draw_skeleton(pic, kps[:, :2], task.skeleton, kps[:, 2] >= 0.05)
    return draw_detections(pic, det.boxes, det.labels.tolist(), det.scores.tolist(), task.classes)


CLI = TaskCLI(
    name="instance",
    help="instance segmentation: a class, box, score and mask for every object (Mask R-CNN)",
    add_flags=add_flags,
    build=build,
    task_class=task_class,
    draw=draw,
    recipe=RECIPE,
    records=coco_records,
    eval_options=(SAVE_JSON,),
    after_eval=save_json,
)
