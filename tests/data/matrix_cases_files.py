"""Bad-input matrix rows for YOLO labels (boxes and segmentation polygons), instance-id mask
folders and image files of every kind.

Fixtures: ``make_yolo`` (``a.png`` 40x20 with ``labels/train/a.txt``, ``b.png`` 16x16 without;
classes cat, dog), ``make_instances`` (``a.png`` 24x20 with instances 1 and 3, ``b.png``
16x16 with none). Image rows replace COCO image 11 (``b.png``) with the odd file, so the error
names the JSON's entry as well as the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from fixtures import make_instances, make_ultralytics, write_index_png
from matrix_harness import (
    Bad,
    Opener,
    coco_image,
    gif_bomb,
    png_bytes,
    save,
    write_bytes,
    yolo,
)

from regionlab.data.instances import InstanceMaskDataset
from regionlab.data.yolo import YoloDataset

A = "train/a.txt"
L1 = "line 1"


def _yaml_nc2(label: str):
    """An Ultralytics data.yaml (nc: 2) whose ``t0`` label file is ``label``."""

    def build(tmp_path: Path) -> Opener:
        yaml = make_ultralytics(tmp_path)
        (tmp_path / "labels" / "train" / "t0.txt").write_text(label + "\n")
        return lambda skip_bad: YoloDataset(yaml, skip_bad=skip_bad)

    return build


def _instances(change):
    def build(tmp_path: Path) -> Opener:
        images, masks = make_instances(tmp_path)
        change(images, masks)
        return lambda skip_bad: InstanceMaskDataset(images, masks, skip_bad=skip_bad)

    return build


def _huge_png(path: Path) -> Path:
    return write_bytes(png_bytes(100_000, 100_000, 8, 0, b"\0" * 16))(path)


def _cut_png(path: Path) -> Path:
    save(np.full((16, 16), 3, np.uint8))(path)
    path.write_bytes(path.read_bytes()[:-30])
    return path


def _outside_mask(images: Path, masks: Path) -> None:
    write_index_png(images.parent / "elsewhere.png", np.zeros((16, 16)))
    (masks / "b_mask.png").unlink()
    os.symlink(images.parent / "elsewhere.png", masks / "b_mask.png")


def _corrupt_idat(path: Path) -> Path:
    good = png_bytes(4, 4, 8, 0, b"\0\1\2\3\4" * 4)
    start = good.index(b"IDAT") + 4
    data = bytes([good[start], good[start + 1]]) + b"\xff" * 8  # zlib header, garbage stream
    return write_bytes(png_bytes(4, 4, 8, 0, b"")[:start] + data)(path)


def _label_folder(root: Path) -> None:
    label = root / "labels" / "train" / "a.txt"
    label.unlink()
    label.mkdir()


POLY = "0.1 0.1 0.9 0.1 0.9 0.9"  # a triangle, normalised

BAD_FILES: list[Bad] = [
    # YOLO segmentation polygons (class x1 y1 x2 y2 x3 y3 ...)
    Bad("yolo-seg-odd-coordinates", yolo(f"0 {POLY} 0.5"),
        r"polygon 'class x1 y1 x2 y2 \.\.\.' has an odd number of coordinates \(7\)", A, L1),
    Bad("yolo-seg-prediction-line-with-score", yolo("0 0.5 0.5 0.2 0.2 0.87"),
        r"odd number of coordinates \(5\) \(a prediction file's 'class cx cy w h score' line\?\)",
        A, L1),
    Bad("yolo-seg-one-point", yolo("0 0.5 0.5"),
        r"expected 5 fields 'class cx cy w h', got 3", A, L1),
    Bad("yolo-seg-point-above-1", yolo("0 0.1 0.1 1.5 0.1 0.9 0.9"),
        r"polygon point 2 has x = 1\.5, outside 0\.\.1", A, L1),
    Bad("yolo-seg-point-negative", yolo("0 0.1 0.1 0.9 0.1 0.9 -0.2"),
        r"polygon point 3 has y = -0\.2, outside 0\.\.1", A, L1),
    Bad("yolo-seg-class-beyond-classes", yolo(f"0 {POLY}\n2 {POLY}"),
        r"class id 2 is not below the number of classes 2", A, "line 2"),
    Bad("yolo-seg-class-beyond-nc", _yaml_nc2(f"2 {POLY}"),
        r"class id 2 is not below the number of classes 2", "labels/train/t0.txt", L1),
    Bad("yolo-seg-nan", yolo("0 0.1 0.1 nan 0.1 0.9 0.9"),
        r"non-finite value in '0 0\.1 0\.1 nan", A, L1),
    Bad("yolo-seg-points-in-a-line", yolo("0 0.1 0.1 0.5 0.1 0.9 0.1"),
        r"polygon has no width or height \(its points line up\)", A, L1),
    Bad("yolo-seg-not-a-number", yolo("0 0.1 0.1 0.9 zero 0.9 0.9"),
        r"not a number in '0 0\.1 0\.1 0\.9 zero", A, L1),
    Bad("yolo-seg-negative-class", yolo(f"-1 {POLY}"), r"class id -1 is negative", A, L1),
    Bad("yolo-seg-underscore-number", yolo("0 0.1 0.1 0.9 0_1 0.9 0.9"),
        r"not a number in '0 0\.1 0\.1 0\.9 0_1", A, L1),
    Bad("yolo-label-file-a-folder", yolo("", extra=_label_folder),
        r"is a folder, not a label file", A, ""),
    Bad("yolo-label-latin1", yolo("0 0.5 0.5 0.5 0.5 # café".encode("latin-1")),
        r"not valid UTF-8 \(.* at byte 23\)", A, ""),
    # instance-id mask folders
    Bad("instances-zero-byte-mask", _instances(lambda i, m: write_bytes(b"")(m / "b_mask.png")),
        r"cannot read image header", "PedMasks/b_mask.png", ""),
    Bad("instances-truncated-mask", _instances(lambda i, m: _cut_png(m / "b_mask.png")),
        r"cannot decode image", "PedMasks/b_mask.png", ""),
    Bad("instances-mask-bomb-header", _instances(lambda i, m: _huge_png(m / "b_mask.png")),
        r"decompression bomb", "PedMasks/b_mask.png", ""),
    Bad("instances-image-0x0", _instances(
        lambda i, m: (write_bytes(png_bytes(0, 0, 8, 0, b""))(i / "c.png"),
                      write_index_png(m / "c_mask.png", np.zeros((4, 4))))),
        r"cannot read image header: .*0-pixel size", "PNGImages/c.png", ""),
    Bad("instances-image-not-an-image",
        _instances(lambda i, m: (i / "b.png").write_text("<html>not an image</html>")),
        r"cannot read image header", "PNGImages/b.png", ""),
    Bad("instances-mask-symlink-outside", _instances(_outside_mask),
        r"file name 'b_mask\.png' points outside the dataset root", "PNGImages/b.png", ""),
    # image files, as COCO image 11
    Bad("image-0x0-png", coco_image(write_bytes(png_bytes(0, 0, 8, 0, b"")), "zero.png"),
        r"cannot read image header: cannot identify image file .*0-pixel size",
        "images/zero.png", "image id 11"),
    Bad("image-float32-tiff", coco_image(save(np.ones((4, 4), np.float32)), "depth.tif"),
        r"float 32-bit image \(mode F\) has no 8-bit scale", "images/depth.tif", "image id 11"),
    Bad("image-int32-tiff", coco_image(save(np.ones((4, 4), np.int32)), "counts.tif"),
        r"integer 32-bit image \(mode I\) has no 8-bit scale", "images/counts.tif",
        "image id 11"),
    Bad("image-gif-bomb-header", coco_image(write_bytes(gif_bomb()), "bomb.gif"),
        r"above the limit of 64000000 pixels \(possible decompression bomb\)", "images/bomb.gif", "image id 11"),
    Bad("image-png-ihdr-crc", coco_image(
        write_bytes(png_bytes(4, 4, 8, 0, b"\0" * 20)[:29] + b"\0\0\0\0"
                    + png_bytes(4, 4, 8, 0, b"\0" * 20)[33:]), "crc.png"),
        r"cannot read image header", "images/crc.png", "image id 11"),
    Bad("image-png-corrupt-data", coco_image(_corrupt_idat, "garbled.png"),
        r"cannot decode image", "images/garbled.png", "image id 11"),
    Bad("image-a-folder", coco_image(lambda p: p.mkdir(parents=True), "folder.png"),
        r"folder\.png is a folder, not an image file", "instances.json", "image id 11"),
]  # fmt: skip
