"""``regionlab train segment``: semantic segmentation (patch classifier, FCN, encoder-decoder)."""

from __future__ import annotations

from regionlab.cli.common import (
    auto_widths,
    ints_type,
    say,
    size_type,
)
from regionlab.cli.prepare import classes_of, default_size
from regionlab.cli.taskcli import TaskCLI, base_dataset
from regionlab.names import BACKBONES, SEG_ARCHS, UPSAMPLERS

# The demo's recipe, measured on scenes and CamVid (closing notes of the foundation and
# newcomer issues): 2x2 transposed upsampling, median-frequency class weights plus soft Dice;
# batch 16 on scenes, 8 on photos (twice the steps in a CPU budget: CamVid mIoU 0.50 at 10 min).
RECIPE = {"batch_size": 16, "lr": 2e-3}
PHOTO_RECIPE = {"batch_size": 8}
# Samples looked at for class maps; the median-frequency class weights read as many.
MAP_SAMPLES = 200
READERS_WITH_MAPS = (
    "voc:DIR with DIR/SegmentationClass/<id>.png (or :segmentation=FOLDER), "
    "masks:LIST.txt:num_classes=N, camvid:LIST.txt, coco:ANN.json:IMAGES_DIR with segmentation "
    "polygons or RLE, instances:IMAGES_DIR:MASKS_DIR, scenes"
)


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
        help="encoder network (auto: the small CNN on built-in scenes, mobilenet_v3_large on "
        "photos, the better of the two measured on CamVid)",
    )
    p.add_argument(
        "--widths",
        type=ints_type,
        help="stage widths of the small backbone (default: 16, 32, ... with one stage per "
        "halving of the input down to about 4 px)",
    )
    p.add_argument("--pretrained", help="local torchvision state-dict file for the backbone")
    p.add_argument(
        "--size",
        type=size_type,
        help="input size N or HxW (default: scenes' own size, 240x320 for photos)",
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


def build(args, train_set):
    from regionlab.models.segmentation.builders import SegmentationSpec
    from regionlab.tasks.segmentation import SegmentationTask, median_frequency_weights

    classes = classes_of(train_set)
    require_class_maps(train_set, args.data)
    weights = None
    if args.class_weights == "median_freq":
        weights = median_frequency_weights(train_set, len(classes))
        say("class weights (median frequency):", dict(zip(classes, weights)))
    size = default_size(args, train_set, (240, 320))
    generated = getattr(base_dataset(train_set), "generated", False)
    backbone = args.backbone
    if backbone == "auto":
        backbone = "small" if generated else "mobilenet_v3_large"
    spec = SegmentationSpec(
        num_classes=len(classes),
        arch=args.model,
        upsampler=args.upsampler,
        kernel=args.kernel,
        skips=not args.no_skips,
        backbone=backbone,
        widths=args.widths if args.widths is not None else auto_widths(size),
        pretrained=args.pretrained,
        class_weights=weights,
        dice=args.dice,
    )
    scale = (
        tuple(args.scale) if args.scale is not None else ((1.0, 1.0) if generated else (0.75, 1.5))
    )
    return SegmentationTask(spec, size, classes, scale=scale)


def require_class_maps(train_set, spec: str) -> None:
    """Stop before training on a set without class maps (boxes only: VOC without its
    SegmentationClass folder, YOLO, COCO boxes): every pixel would be ignored. Samples without a
    map among others that have one are fine (their pixels are ignored)."""
    n = min(MAP_SAMPLES, len(train_set))
    # stops at the first map: one sample read on a set that has them
    if any(train_set[i].semantic is not None for i in range(n)):
        return
    which = f"its {n}" if n == len(train_set) else f"the first {n} of its {len(train_set)}"
    raise ValueError(
        f"{spec}: {which} training samples have no class map (semantic mask), so segmentation "
        f"has nothing to learn; readers that give class maps: {READERS_WITH_MAPS}"
    )


def task_class():
    from regionlab.tasks.segmentation import SegmentationTask

    return SegmentationTask


def draw(task, model, image):
    from regionlab.viz.draw import overlay_panels

    pred = task.predict(model, image[None].float() / 255)[0]
    return overlay_panels(image, [("prediction", pred)], task.classes, task.background)


CLI = TaskCLI(
    name="segment",
    help="semantic segmentation: a class for every pixel",
    add_flags=add_flags,
    build=build,
    task_class=task_class,
    draw=draw,
    recipe=RECIPE,
    photo_recipe=PHOTO_RECIPE,
)
