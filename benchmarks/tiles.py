"""A stand-in for small two-class microscopy sets: Penn-Fudan person-vs-background tiles.

Issue 22 measures default flags on "12 tiles of 128x128, background or cell"; this writes such
a set from Penn-Fudan (not copied into the project: written to --out): each photo scaled so
its shorter side is 2 x --tile, then one --tile x --tile crop centred on its first pedestrian,
the mask 1 on any pedestrian and 0 elsewhere. ``train.txt`` and ``val.txt`` list image/mask
pairs for the ``masks:LIST.txt:num_classes=2`` reader.

    python benchmarks/tiles.py --out /tmp/pf_tiles             # 12 train + 4 val, 128 px
    regionlab train segment --data masks:/tmp/pf_tiles/train.txt:num_classes=2 \\
        --val masks:/tmp/pf_tiles/val.txt:num_classes=2 --minutes 3
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATASETS  # noqa: E402


def tile(image: Path, mask: Path, side: int) -> tuple[Image.Image, Image.Image]:
    """One ``side`` x ``side`` crop around the first pedestrian of a photo scaled so its shorter
    side is ``2 side``; the mask as 0 (background) / 1 (person)."""
    img, ids = Image.open(image).convert("RGB"), Image.open(mask)
    scale = 2 * side / min(img.size)
    size = (round(img.width * scale), round(img.height * scale))
    img, ids = img.resize(size, Image.BILINEAR), ids.resize(size, Image.NEAREST)
    arr = np.asarray(ids)
    ys, xs = np.nonzero(arr == 1)
    cy, cx = (int(ys.mean()), int(xs.mean())) if len(ys) else (size[1] // 2, size[0] // 2)
    top = min(max(0, cy - side // 2), size[1] - side)
    left = min(max(0, cx - side // 2), size[0] - side)
    box = (left, top, left + side, top + side)
    person = Image.fromarray(((arr > 0) * 1).astype(np.uint8), "L")
    return img.crop(box), person.crop(box)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="folder to write (outside the project)")
    p.add_argument("--train", type=int, default=12)
    p.add_argument("--val", type=int, default=4)
    p.add_argument("--tile", type=int, default=128)
    p.add_argument("--source", type=Path, default=DATASETS / "pennfudan")
    args = p.parse_args(argv)
    images = sorted((args.source / "PNGImages").glob("*.png"))
    if len(images) < args.train + args.val:
        raise SystemExit(f"{args.source}: {len(images)} images, need {args.train + args.val}")
    # spread over the set, the validation tiles from other photos than the training ones
    step = len(images) // (args.train + args.val)
    chosen = images[::step][: args.train + args.val]
    args.out.mkdir(parents=True, exist_ok=True)
    lines: dict[str, list[str]] = {"train": [], "val": []}
    for i, image in enumerate(chosen):
        crop, person = tile(image, args.source / "PedMasks" / f"{image.stem}_mask.png", args.tile)
        crop.save(args.out / f"{image.stem}.png")
        person.save(args.out / f"{image.stem}_person.png")
        split = "train" if i < args.train else "val"
        lines[split].append(f"{image.stem}.png {image.stem}_person.png")
    for split, rows in lines.items():
        (args.out / f"{split}.txt").write_text("\n".join(rows) + "\n")
    print(f"{args.out}: {len(lines['train'])} train + {len(lines['val'])} val tiles of "
          f"{args.tile}x{args.tile}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
