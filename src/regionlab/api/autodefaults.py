"""Defaults chosen from the training data (photo sets), for what the user did not give.

A default measured on one set (CamVid's 240x320, say) stretches a 128 px tile to 240x320 and
gives twelve images a network made for hundreds. So for ``segment``, ``localize`` and
``keypoints`` on files (the built-in scenes keep their measured recipes), the input size,
backbone, stage widths, batch and learning rate follow from a :class:`DataSummary` (sampled
image sizes from the file headers, the number of training images, the number of classes):

- size: the median image, aspect kept, scaled down so its longest side and its pixel count stay
  within the family's CPU budget (:class:`FamilyRule`), never up; sides rounded to a multiple
  of :data:`STRIDE`.
- backbone (``segment``): mobilenet_v3_large only from :data:`MANY_IMAGES` images and 3
  classes (measured better on CamVid); below that, the small CNN (fewer weights to fit).
- colour jitter (``segment``): :data:`FEW_COLOUR` below :data:`MANY_IMAGES` images, else none.
- widths: one stage per halving of the input down to about 4 px (the measured recipe),
  starting at 16, or 32 from :data:`WIDE_IMAGES` images or :data:`WIDE_CLASSES` classes.
- batch and lr: about as many pixels per step as the family's measured recipe, so a
  5-minute run takes about as many steps as it did; at most half the training images (two
  steps per epoch); the lr scaled by the square root of the batch ratio (Adam's usual rule).

Every choice comes with its reason: printed at start and stored in ``run.json``. A value the
user gave (flag, option, or key of ``--config``) is never replaced. No torch at import.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

# Families whose sizes are (H, W) and whose defaults this module chooses.
STRIDE = 16  # sides a multiple of it: stride-2 stages halve evenly down to 1/16
MANY_IMAGES = 100  # from this many training images (and 3 classes) the bigger backbone
WIDE_IMAGES, WIDE_CLASSES = 1000, 20  # widths start at 32 from either
MAX_BATCH = 16
FEW_COLOUR = 0.3  # colour jitter below MANY_IMAGES (the detection recipe's strength)
SAMPLE_LIMIT = 64  # image headers read (evenly spread over the set)


@dataclass(frozen=True)
class FamilyRule:
    """The CPU budget of one family: the longest side and pixel count of its input, and the
    pixels of one training step (batch x H x W) of its measured recipe."""

    longest: int
    pixels: int
    step_pixels: int
    chooses_backbone: bool = False


RULES = {
    # CamVid, measured: 240x320 and batch 8 (0.50 mIoU at 10 minutes)
    "segment": FamilyRule(320, 240 * 320, 8 * 240 * 320, chooses_backbone=True),
    # scenes and raccoon, measured: 128 px and batch 16
    "localize": FamilyRule(160, 128 * 128, 16 * 128 * 128),
    # LSPET, measured: 128 px and batch 16 (the best PCK at 10 minutes)
    "keypoints": FamilyRule(128, 128 * 128, 16 * 128 * 128),
}


@dataclass(frozen=True)
class DataSummary:
    """What the defaults read of a training set: ``sizes`` the ``(H, W)`` of sampled images,
    ``count`` the training images, ``classes`` the classes the model predicts."""

    sizes: tuple[tuple[int, int], ...]
    count: int
    classes: int

    def median(self) -> tuple[int, int]:
        if not self.sizes:
            raise ValueError("no image sizes to choose an input size from")
        return (
            int(statistics.median(h for h, _ in self.sizes)),
            int(statistics.median(w for _, w in self.sizes)),
        )


@dataclass
class DataDefaults:
    """The chosen values: ``options`` for the task's builder, ``config`` for its TrainConfig,
    ``reasons`` one line per choice (by option name)."""

    options: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    reasons: dict = field(default_factory=dict)

    def to_record(self) -> dict:
        values = {**self.options, **self.config}
        return {k: {"value": _plain(values[k]), "reason": r} for k, r in self.reasons.items()}


def _plain(v):
    return list(v) if isinstance(v, tuple) else v


def choose_size(s: DataSummary, rule: FamilyRule) -> tuple[tuple[int, int], str]:
    """The median image scaled down into the rule's budget, aspect kept, never up."""
    h, w = s.median()
    scale = min(1.0, rule.longest / max(h, w), math.sqrt(rule.pixels / (h * w)))
    size = (_round_side(h * scale, h), _round_side(w * scale, w))
    why = f"median image {h}x{w}" + (", not upscaled" if scale == 1.0 else ", aspect kept")
    return size, (
        f"{why}; longest side at most {rule.longest}, at most {rule.pixels} pixels (CPU budget); "
        f"sides a multiple of {STRIDE}"
    )


def _round_side(scaled: float, original: int) -> int:
    """The nearest multiple of STRIDE, but never above the original side."""
    if original < STRIDE:
        return original
    side = max(STRIDE, int(round(scaled / STRIDE)) * STRIDE)
    return side if side <= original else (original // STRIDE) * STRIDE


def choose_backbone(s: DataSummary) -> tuple[str, str]:
    if s.count >= MANY_IMAGES and s.classes >= 3:
        return "mobilenet_v3_large", f"{s.count} images, {_classes(s)}"
    return "small", (
        f"{s.count} images, {_classes(s)} (mobilenet_v3_large from {MANY_IMAGES} "
        "images and 3 classes)"
    )


def _classes(s: DataSummary) -> str:
    return f"{s.classes} class" + ("" if s.classes == 1 else "es")


def choose_colour(s: DataSummary) -> tuple[float, str]:
    """Colour jitter (``segment``): :data:`FEW_COLOUR` below :data:`MANY_IMAGES` images, else
    none. Measured (closing note of issue 22, 3 seeds each): 12 tiles of 128 px gained 0.047
    mIoU with it (0.676 -> 0.723, more than the spread); CamVid's 150 images scored 0.359 +-
    0.050 with it against 0.378 +- 0.025 without (within noise), and took fewer steps (the hue
    shift costs time on large images)."""
    if s.count < MANY_IMAGES:
        return FEW_COLOUR, (
            f"{s.count} images (below {MANY_IMAGES}, a few photos show little of the light and "
            "colour a model meets)"
        )
    return 0.0, f"{s.count} images (jitter {FEW_COLOUR:g} below {MANY_IMAGES})"


def choose_widths(s: DataSummary, size: tuple[int, int]) -> tuple[list[int], str]:
    from regionlab.api.builders.shared import auto_widths

    wide = s.count >= WIDE_IMAGES or s.classes >= WIDE_CLASSES
    first = 32 if wide else 16
    return auto_widths(size, first=first), (
        f"one stage per halving of {min(size)} px down to about 4 px, from {first} "
        f"({s.count} images, {_classes(s)}; 32 from {WIDE_IMAGES} images or "
        f"{WIDE_CLASSES} classes)"
    )


def choose_batch(
    s: DataSummary, size: tuple[int, int], rule: FamilyRule, recipe: dict
) -> tuple[int, float, str]:
    """Batch and lr: about ``rule.step_pixels`` per step, at most half the training images."""
    fit = max(1, rule.step_pixels // (size[0] * size[1]))
    batch = min(_pow2_floor(fit), MAX_BATCH, _pow2_floor(max(2, s.count // 2)))
    batch = max(min(2, s.count), batch)
    ref_batch, ref_lr = recipe.get("batch_size", 8), recipe.get("lr", 2e-3)
    lr = ref_lr * math.sqrt(batch / ref_batch) if batch < ref_batch else ref_lr
    lr = float(f"{lr:.3g}")
    return (
        batch,
        lr,
        (
            f"about {rule.step_pixels} pixels per step as the measured recipe, at most half of "
            f"{s.count} images; lr {ref_lr:g} x sqrt(batch / {ref_batch}) below batch {ref_batch}"
        ),
    )


def _pow2_floor(n: int) -> int:
    return 1 << (max(1, int(n)).bit_length() - 1)


def choose(family: str, s: DataSummary, given: dict, recipe: dict) -> DataDefaults:
    """The defaults of ``family`` for the summary ``s``; options in ``given`` (name -> the
    user's value) are left alone. ``recipe``: the family's TrainConfig recipe (its batch and lr
    are the reference). Pure: no file is read."""
    rule, out = RULES[family], DataDefaults()
    size = tuple(given["size"]) if "size" in given else None
    if size is None:
        size, out.reasons["size"] = choose_size(s, rule)
        out.options["size"] = size
    backbone = given.get("backbone", "small")
    if rule.chooses_backbone and "backbone" not in given:
        backbone, out.reasons["backbone"] = choose_backbone(s)
        out.options["backbone"] = backbone
    if "widths" not in given and backbone == "small":
        out.options["widths"], out.reasons["widths"] = choose_widths(s, size)
    if rule.chooses_backbone and "colour" not in given:
        out.options["colour"], out.reasons["colour"] = choose_colour(s)
    if "batch_size" not in given:
        batch, lr, why = choose_batch(s, size, rule, recipe)
        out.config["batch_size"] = batch
        out.reasons["batch_size"] = why
        if "lr" not in given:
            out.config["lr"] = lr
            out.reasons["lr"] = f"with batch {batch}"
    return out


def lines(d: DataDefaults) -> list[str]:
    """One printed line per choice: ``size 128x128 from the data: ...``."""
    values = {**d.options, **d.config}
    return [
        f"{_NAMES.get(k, k)} {_show(values[k])} from the data: {why}"
        for k, why in d.reasons.items()
    ]


_NAMES = {"batch_size": "batch"}


def _show(v) -> str:
    if isinstance(v, tuple):
        return "x".join(map(str, v))
    if isinstance(v, list):
        return ",".join(map(str, v))
    return f"{v:g}" if isinstance(v, float) else str(v)


# ---------------------------------------------------------------------- reading a training set


def image_sizes(ds, limit: int = SAMPLE_LIMIT) -> list[tuple[int, int]]:
    """``(H, W)`` of up to ``limit`` images spread evenly over ``ds``: from the file header
    where the reader names the file (``image_file``), else by reading the sample."""
    from regionlab.data.io import image_size

    n = len(ds)
    picks = sorted({i * n // limit for i in range(limit)}) if n > limit else range(n)
    sizes = []
    for i in picks:
        base, j = _resolve(ds, i)
        path = getattr(base, "image_file", lambda _: None)(j)
        if path is not None:
            sizes.append(image_size(Path(path)))
        else:
            sizes.append(tuple(int(v) for v in ds[i].image.shape[-2:]))
    return sizes


def _resolve(ds, index: int):
    """The reader behind ``Subset`` wrappers and the index there."""
    while hasattr(ds, "dataset") and hasattr(ds, "indices"):
        ds, index = ds.dataset, ds.indices[index]
    return ds, index


def summarize(train_set) -> DataSummary:
    from regionlab.api.prepare import classes_of

    classes = classes_of(train_set)
    predicted = len(classes) - (1 if classes and classes[0] == "background" else 0)
    return DataSummary(tuple(image_sizes(train_set)), len(train_set), predicted)


def given_values(args) -> dict:
    """Options the user gave (name -> value): the keys of the ``--config`` file, then flags
    not ``None`` (``backbone`` unless ``auto``; a family's fixed default backbone counts)."""
    values = {}
    if getattr(args, "config", None) is not None:
        from regionlab.engine.config import read_config_file

        values.update(read_config_file(Path(args.config)))
    for k in ("size", "widths", "batch_size", "lr", "backbone", "colour"):
        v = getattr(args, k, None)
        if v is not None and v != "auto":
            values[k] = v
    return values


def for_run(family: str, args, train_set, recipe: dict) -> DataDefaults:
    """The data's defaults for a training run (none on the built-in scenes, or for a family
    without a rule), printed one line each."""
    from regionlab.api.prepare import base_dataset, say

    if family not in RULES or getattr(base_dataset(train_set), "generated", False):
        return DataDefaults()
    out = choose(family, summarize(train_set), given_values(args), recipe)
    for line in lines(out):
        say(line)
    return out
