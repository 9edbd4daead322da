"""``regionlab train segment``: semantic segmentation (patch classifier, FCN, encoder-decoder)."""

from __future__ import annotations

from regionlab.api.builders import BUILDERS
from regionlab.cli.common import ints_type, size_type
from regionlab.cli.taskcli import TaskCLI
from regionlab.names import BACKBONES, SEG_ARCHS, UPSAMPLERS

BUILD = BUILDERS["segment"]  # the task from these flags (regionlab.api.builders.dense)


def add_flags(p) -> None:
    p.add_argument("--model", choices=SEG_ARCHS, default="encdec", help="segmentation model")
    p.add_argument(
        "--upsampler", choices=UPSAMPLERS, default="transposed", help="decoder upsampler"
    )
    p.add_argument("--kernel", type=int, default=2, help="transposed-conv kernel (stride 2)")
    p.add_argument("--no-skips", action="store_true", help="no U-Net skip connections")
    p.add_argument(
        "--backbone",
        default="auto",
        choices=["auto", *BACKBONES],
        help="encoder network (auto: the small CNN on built-in scenes and small photo sets, "
        "mobilenet_v3_large from 100 training images and 3 classes, the better of the two "
        "measured on CamVid; printed at start)",
    )
    p.add_argument(
        "--widths",
        type=ints_type,
        help="stage widths of the small backbone (default: 16, 32, ... with one stage per "
        "halving of the input down to about 4 px; from 32 with 1000 images or 20 classes)",
    )
    p.add_argument("--pretrained", help="local torchvision state-dict file for the backbone")
    p.add_argument(
        "--size",
        type=size_type,
        help="input size N or HxW (default: scenes' own size; on files, from the data: the "
        "median image, aspect kept, longest side at most 320 and 240x320 pixels, never "
        "upscaled; printed at start)",
    )
    p.add_argument(
        "--class-weights",
        choices=["none", "median_freq"],
        default="median_freq",
        help="per-class loss weights (median frequency balancing, SegNet)",
    )
    p.add_argument("--dice", type=float, default=1.0, help="weight of a soft Dice loss term")
    p.add_argument(
        "--scale",
        type=float,
        nargs=2,
        help="random scale range for augmentation (default: none on built-in scenes, whose "
        "2000 distinct samples need no help and learn faster without; 0.75 1.5 on photos)",
    )
    p.add_argument(
        "--colour",
        type=float,
        help="colour jitter: brightness, contrast and saturation factors in 1 +- C, hue +- "
        "C/20 (default: none on built-in scenes; on files, 0.3 below 100 training images, "
        "else none; printed at start)",
    )


def task_class():
    from regionlab.tasks.segmentation import SegmentationTask

    return SegmentationTask


CLI = TaskCLI(
    name="segment",
    help="semantic segmentation: a class for every pixel",
    add_flags=add_flags,
    build=BUILD.build,
    task_class=task_class,
    recipe=BUILD.recipe,
    photo_recipe=BUILD.photo_recipe,
)
