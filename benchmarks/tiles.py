"""Stand-ins for small two-class microscopy sets: 12 train + 4 val tiles of 128x128.

Issue 22 measures default flags on "12 tiles of 128x128, background or cell"; this writes such
a set (never into the project: to --out) from one of two sources:

- Penn-Fudan (default): each photo scaled so its shorter side is 2 x --tile, then one --tile x
  --tile crop centred on its first pedestrian, the mask 1 on any pedestrian and 0 elsewhere.
- ``--nuclei DIR``: a real fluorescence image of cell nuclei with its instance mask, the
  ``img2d.tif`` / ``mask2d.tif`` pair that StarDist's wheel ships as test data (a 512x512
  crop of the 2018 Data Science Bowl; ``pip download --no-deps stardist==0.9.2`` and unzip
  ``stardist/data/images``). Cut into a 4x4 grid of 128 px tiles, the four on the diagonal
  for validation; the mask 1 on any nucleus. The image's 16-bit values (0-235 here) are
  written as they are into 8-bit grey PNGs, as a user's export would hold them.

``train.txt`` and ``val.txt`` list image/mask pairs for the ``masks:LIST.txt:num_classes=2``
reader.

    python benchmarks/tiles.py --out /tmp/pf_tiles             # 12 train + 4 val, 128 px
    python benchmarks/tiles.py --out /tmp/nuclei --nuclei /tmp/sd/stardist/data/images
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


def nuclei(folder: Path, out: Path, side: int) -> dict[str, list[str]]:
    """The 4x4 grid of ``side`` px tiles of ``folder/img2d.tif`` (diagonal: validation)."""
    image = np.asarray(Image.open(folder / "img2d.tif"))
    ids = np.asarray(Image.open(folder / "mask2d.tif"))
    if image.shape != ids.shape or image.max() > 255:
        raise SystemExit(f"{folder}: expected the 512x512 img2d/mask2d pair with values < 256")
    lines: dict[str, list[str]] = {"train": [], "val": []}
    for r in range(image.shape[0] // side):
        for c in range(image.shape[1] // side):
            window = np.s_[r * side : (r + 1) * side, c * side : (c + 1) * side]
            name = f"nuclei_r{r}c{c}"
            Image.fromarray(image[window].astype(np.uint8), "L").save(out / f"{name}.png")
            cell = ((ids[window] > 0) * 1).astype(np.uint8)
            Image.fromarray(cell, "L").save(out / f"{name}_cell.png")
            lines["val" if r == c else "train"].append(f"{name}.png {name}_cell.png")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="folder to write (outside the project)")
    p.add_argument("--train", type=int, default=12)
    p.add_argument("--val", type=int, default=4)
    p.add_argument("--tile", type=int, default=128)
    p.add_argument(
        "--extra-train",
        type=int,
        default=0,
        help="Penn-Fudan: this many more training tiles, from photos outside the default 16 "
        "(the same validation tiles): how far more data would take the stand-in",
    )
    p.add_argument("--source", type=Path, default=DATASETS / "pennfudan")
    p.add_argument("--nuclei", type=Path, help="folder with img2d.tif and mask2d.tif (above)")
    args = p.parse_args(argv)
    if args.nuclei is not None:
        if args.extra_train or (args.train, args.val) != (12, 4):
            raise SystemExit("--nuclei makes its fixed 4x4 grid: --train, --val, --extra-train "
                             "are for Penn-Fudan")  # fmt: skip
        args.out.mkdir(parents=True, exist_ok=True)
        return _write_lists(args.out, nuclei(args.nuclei, args.out, args.tile), args.tile)
    images = sorted((args.source / "PNGImages").glob("*.png"))
    if len(images) < args.train + args.val:
        raise SystemExit(f"{args.source}: {len(images)} images, need {args.train + args.val}")
    # spread over the set, the validation tiles from other photos than the training ones
    step = len(images) // (args.train + args.val)
    chosen = images[::step][: args.train + args.val]
    others = [p for p in images if p not in chosen][: args.extra_train]
    chosen = chosen[: args.train] + others + chosen[args.train :]
    args.train += len(others)
    args.out.mkdir(parents=True, exist_ok=True)
    lines: dict[str, list[str]] = {"train": [], "val": []}
    for i, image in enumerate(chosen):
        crop, person = tile(image, args.source / "PedMasks" / f"{image.stem}_mask.png", args.tile)
        crop.save(args.out / f"{image.stem}.png")
        person.save(args.out / f"{image.stem}_person.png")
        split = "train" if i < args.train else "val"
        lines[split].append(f"{image.stem}.png {image.stem}_person.png")
    return _write_lists(args.out, lines, args.tile)


def _write_lists(out: Path, lines: dict[str, list[str]], side: int) -> int:
    for split, rows in lines.items():
        (out / f"{split}.txt").write_text("\n".join(rows) + "\n")
    print(f"{out}: {len(lines['train'])} train + {len(lines['val'])} val tiles of {side}x{side}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
