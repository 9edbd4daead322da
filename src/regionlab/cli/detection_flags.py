"""What the detection family's command lines (``detect``, ``instance``) share: input size,
augmentation and backbone flags, the Fast / Faster / Mask R-CNN scale flags (their
size-dependent defaults are the builders', :mod:`regionlab.api.builders.detection`), and
``eval --save-json`` (COCO results). No torch at import.
"""

from __future__ import annotations

import argparse

from regionlab.cli.common import floats_type, ints_type, say, side_type
from regionlab.cli.taskcli import Option, base_dataset


def add_detection_flags(p: argparse.ArgumentParser, backbone_group=None) -> None:
    """Input size and augmentation of the detection family (``detect``, ``instance``), and the
    detector backbone (in ``backbone_group`` if given, else in ``p``)."""
    p.add_argument(
        "--size",
        type=side_type,
        help="square input side (default: the scenes' size, 320 for photos)",
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
    g = backbone_group or p
    g.add_argument(
        "--backbone",
        help="csp (ours, sized for a CPU; the default) or a torchvision backbone: resnet18 | "
        "resnet50 | resnext50_32x4d | mobilenet_v3_large | mobilenet_v3_small; rcnn and the "
        "sliding window run a small CNN on every crop (default: small)",
    )
    g.add_argument("--pretrained", help="local torchvision state-dict file for the backbone")
    g.add_argument("--widths", type=ints_type, help="csp or small: stem and stage widths")
    g.add_argument("--depths", type=ints_type, help="csp bottlenecks per stage")


def add_scale_flags(p) -> None:
    """``--fpn`` and ``--anchor-scales`` (Fast, Faster and Mask R-CNN)."""
    p.add_argument(
        "--fpn",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="read regions from a feature pyramid (strides 8, 16, 32; the RPN on every level) "
        "instead of one map (default: on with an RPN, off for fast-rcnn)",
    )
    p.add_argument(
        "--anchor-scales",
        type=floats_type,
        help="with --fpn: RPN anchor sides as multiples of each level's stride "
        "(default 4,8; 2,4 up to 160 px)",
    )


def coco_export(task, model, dataset, path) -> int:
    """COCO results JSON of ``dataset`` at ``path`` (category ids as the dataset's own, for
    COCO files); the number of entries."""
    import json

    from regionlab.engine.checkpoint import write_text_atomic
    from regionlab.eval.detection import to_coco_results

    cat_ids = getattr(base_dataset(dataset), "label_to_cat_id", None)
    out = []
    for i in range(len(dataset)):
        s = dataset[i]
        det = [task.scored(d) for d in task.predict(model, s.image[None].float() / 255)]
        out += to_coco_results(det, [s.image_id], cat_ids)
    write_text_atomic(path, json.dumps(out))
    return len(out)


# `eval --save-json PATH` of the detection family
SAVE_JSON = Option(
    "--save-json", "also write the predictions as COCO results JSON to PATH", metavar="PATH"
)


def save_json(task, model, dataset, options: dict) -> None:
    """``after_eval`` of the detection family: ``--save-json PATH``."""
    if options.get("save_json") is not None:
        n = coco_export(task, model, dataset, options["save_json"])
        say(f"wrote {n} results to {options['save_json']}")
