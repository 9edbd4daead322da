"""Helpers that write tiny hand-made datasets (16x16 to 40x40 images) for the reader tests."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from regionlab.data.errors import DataError

# tests/data/<this file> -> parents[3] is the folder holding the repository, next to shared/.
SHARED = Path(__file__).resolve().parents[3] / "shared" / "datasets"


def shared(name: str) -> Path:
    """``../shared/datasets/<name>``, or skip the test when that folder is absent."""
    path = SHARED / name
    if not path.is_dir():
        pytest.skip(f"../shared/datasets/{name} not present")
    return path


def raises_data_error(file_name: str, phrase: str):
    """``pytest.raises`` for a :class:`DataError` naming ``file_name`` and saying ``phrase``."""
    return pytest.raises(DataError, match=rf"{re.escape(file_name)}.*{phrase}")


def write_image(path: Path, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Write a random RGB PNG (lossless, so pixels can be compared) and return it ``(H, W, 3)``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(arr, "RGB").save(path)
    return arr


def write_index_png(path: Path, arr: np.ndarray, palette: bool = False) -> None:
    """Write a single-channel index PNG (mode ``L``, or ``P`` like VOC's palette masks)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(arr.astype(np.uint8), "L")
    if palette:
        img = img.convert("P")
        img.putpalette([v for i in range(256) for v in (i, 255 - i, (7 * i) % 256)])
    img.save(path)


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- COCO


def coco_mask_rle(mask: np.ndarray) -> dict:
    """Compressed RLE of a ``bool (H, W)`` mask, as it appears in COCO JSON (counts is a str)."""
    import faster_coco_eval.core.mask as mask_api

    rle = mask_api.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": list(mask.shape), "counts": rle["counts"].decode("ascii")}


def coco_data() -> dict:
    """A COCO instances+keypoints dict for the images written by :func:`make_coco`.

    Categories 1 = person (2 keypoints) and 3 = cat, so labels are person=1, cat=2.
    Image 10 (24x32): person polygon (cols 2..9, rows 2..11), a cat polygon drawn over it
    (cols 6..13, rows 6..9), a cat as uncompressed RLE (cols 20..21, rows 20..23) and a crowd
    (compressed RLE, cols 8..13 rows 8..13). Image 11 (16x16) has no annotations. Image 12
    (16x20, in a sub-folder) has one person box poking 0.5 px out on the left.
    """
    crowd = np.zeros((24, 32), dtype=bool)
    crowd[8:14, 8:14] = True
    # Column-major runs: zeros up to (row 20, col 20) = 20*24 + 20, then 4 on, 20 off, 4 on.
    rle_counts = [500, 4, 20, 4, 24 * 32 - 528]
    return {
        "images": [
            {"id": 10, "file_name": "a.png", "height": 24, "width": 32},
            {"id": 11, "file_name": "b.png", "height": 16, "width": 16},
            {"id": 12, "file_name": "sub/c.png", "height": 16, "width": 20},
        ],
        "categories": [
            {"id": 3, "name": "cat"},
            {"id": 1, "name": "person", "keypoints": ["head", "foot"]},
        ],
        "annotations": [
            {"id": 100, "image_id": 10, "category_id": 1, "bbox": [2, 2, 8, 10], "iscrowd": 0,
             "segmentation": [[2, 2, 10, 2, 10, 12, 2, 12]], "keypoints": [3, 4, 2, 0, 0, 0]},
            {"id": 101, "image_id": 10, "category_id": 3, "bbox": [6, 6, 8, 4], "iscrowd": 0,
             "segmentation": [[6, 6, 14, 6, 14, 10, 6, 10]]},
            {"id": 102, "image_id": 10, "category_id": 3, "bbox": [20, 20, 2, 4], "iscrowd": 0,
             "segmentation": {"size": [24, 32], "counts": rle_counts}},
            {"id": 103, "image_id": 10, "category_id": 1, "bbox": [8, 8, 6, 6], "iscrowd": 1,
             "segmentation": coco_mask_rle(crowd)},
            {"id": 104, "image_id": 12, "category_id": 1, "bbox": [-0.5, 1, 5.5, 4],
             "iscrowd": 0, "segmentation": [[0, 1, 5, 1, 5, 5, 0, 5]],
             "keypoints": [1, 2, 1, 4, 4, 2]},
        ],
    }  # fmt: skip


def coco_captions() -> dict:
    return {
        "images": [],
        "annotations": [
            {"id": 1, "image_id": 10, "caption": "A person and two cats."},
            {"id": 2, "image_id": 11, "caption": "Nothing at all. "},
            {"id": 3, "image_id": 10, "caption": "Random pixels."},
        ],
    }


def make_coco(root: Path, data: dict | None = None) -> tuple[Path, Path, Path]:
    """Write images, ``instances.json`` and ``captions.json``; return their paths."""
    images = root / "images"
    write_image(images / "a.png", 24, 32, seed=1)
    write_image(images / "b.png", 16, 16, seed=2)
    write_image(images / "sub" / "c.png", 16, 20, seed=3)
    ann = write_json(root / "annotations" / "instances.json", data or coco_data())
    caps = write_json(root / "annotations" / "captions.json", coco_captions())
    return ann, images, caps


# ---------------------------------------------------------------------------- VOC


def voc_xml(filename: str, size: tuple[int, int] | None, objects: list[tuple]) -> str:
    """VOC XML text; ``size`` is ``(W, H)``; objects are ``(name, xmin, ymin, xmax, ymax[, diff])``."""
    parts = ["<annotation>", f"<filename>{filename}</filename>"]
    if size is not None:
        parts.append(f"<size><width>{size[0]}</width><height>{size[1]}</height>"
                     "<depth>3</depth></size>")  # fmt: skip
    for name, x1, y1, x2, y2, *rest in objects:
        parts.append(
            f"<object><name>{name}</name><difficult>{rest[0] if rest else 0}</difficult>"
            f"<bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax>"
            "</bndbox></object>"
        )
    parts.append("</annotation>")
    return "\n".join(parts)


VOC_SEMANTIC = np.zeros((24, 32), dtype=np.uint8)
VOC_SEMANTIC[0:8, 0:10] = 2  # dog
VOC_SEMANTIC[5:16, 4:20] = 1  # cat
VOC_SEMANTIC[4, :] = 255  # border, ignored


def make_voc(root: Path) -> Path:
    """VOC layout with images a (24x32, dog + difficult cat, segmentation PNG), b (16x16, cat) and
    c (20x20) whose XML names a stale ``wrong.jpg`` so the reader must fall back to ``c.png``.
    """
    write_image(root / "JPEGImages" / "a.png", 24, 32, seed=1)
    write_image(root / "JPEGImages" / "b.png", 16, 16, seed=2)
    write_image(root / "JPEGImages" / "c.png", 20, 20, seed=3)
    ann = root / "Annotations"
    ann.mkdir(parents=True)
    objects = [("dog", 1, 1, 10, 8), ("cat", 5, 6, 20, 16, 1)]
    (ann / "a.xml").write_text(voc_xml("a.png", (32, 24), objects), encoding="utf-8")
    (ann / "b.xml").write_text(voc_xml("b.png", (16, 16), [("cat", 2, 3, 16, 16)]))
    (ann / "c.xml").write_text(voc_xml("wrong.jpg", None, [("dog", 1, 1, 20, 20)]))
    write_index_png(root / "SegmentationClass" / "a.png", VOC_SEMANTIC, palette=True)
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "ImageSets" / "Main" / "train.txt").write_text("b\n\nc\n")
    return root


# ---------------------------------------------------------------------------- CamVid-like


MASK_A = np.array([[0, 1, 2, 11]] * 4, dtype=np.uint8).repeat(4, axis=1)  # 4x16, 11 = void


def make_mask_folder(root: Path) -> Path:
    """``list.txt`` pairing two 16x16 images with class-index masks (classes 0..2, void 11)."""
    write_image(root / "train" / "a.png", 16, 16, seed=1)
    write_image(root / "train" / "b.png", 16, 16, seed=2)
    write_index_png(root / "trainannot" / "a.png", np.tile(MASK_A, (4, 1)))
    write_index_png(root / "trainannot" / "b.png", np.full((16, 16), 2))
    lst = root / "list.txt"
    lst.write_text("train/a.png trainannot/a.png\n\ntrain/b.png  trainannot/b.png\n")
    return lst


# ---------------------------------------------------------------------------- Penn-Fudan-like


def make_instances(root: Path) -> tuple[Path, Path]:
    """``PNGImages``/``PedMasks`` with a.png (20x24: instances 1 and 3) and b.png (16x16: none)."""
    write_image(root / "PNGImages" / "a.png", 20, 24, seed=1)
    write_image(root / "PNGImages" / "b.png", 16, 16, seed=2)
    ids = np.zeros((20, 24), dtype=np.uint8)
    ids[2:10, 3:7] = 1  # rows 2..9, cols 3..6
    ids[12:20, 10:24] = 3  # id 2 is absent on purpose
    write_index_png(root / "PedMasks" / "a_mask.png", ids)
    write_index_png(root / "PedMasks" / "b_mask.png", np.zeros((16, 16)))
    return root / "PNGImages", root / "PedMasks"


# ---------------------------------------------------------------------------- YOLO


def make_yolo(root: Path) -> Path:
    """``images/train/{a,b}.png`` (a: 20x40 with two boxes, b: 16x16 with no label file)."""
    write_image(root / "images" / "train" / "a.png", 20, 40, seed=1)
    write_image(root / "images" / "train" / "b.png", 16, 16, seed=2)
    (root / "labels" / "train").mkdir(parents=True)
    (root / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n\n1 0.25 0.25 0.5 0.5\n")
    (root / "classes.txt").write_text("cat\ndog\n")
    return root


def make_ultralytics(root: Path, yaml_text: str | None = None) -> Path:
    """``images/{train,val}`` + ``labels/{train,val}`` and a ``data.yaml`` at ``root``.

    train: ``t0`` (20x40, one box of class 1), ``t1`` (16x16, no label file); val: ``v0``
    (16x16, one box of class 0).
    """
    write_image(root / "images" / "train" / "t0.png", 20, 40, seed=1)
    write_image(root / "images" / "train" / "t1.png", 16, 16, seed=2)
    write_image(root / "images" / "val" / "v0.png", 16, 16, seed=3)
    (root / "labels" / "train").mkdir(parents=True)
    (root / "labels" / "val").mkdir(parents=True)
    (root / "labels" / "train" / "t0.txt").write_text("1 0.5 0.5 0.5 0.5\n")
    (root / "labels" / "val" / "v0.txt").write_text("0 0.25 0.25 0.5 0.5\n")
    yaml = root / "data.yaml"
    yaml.write_text(
        yaml_text
        or "# Ultralytics layout\npath: .\ntrain: images/train\nval: images/val\n"
        "nc: 2\nnames:\n  0: cat\n  1: hot dog\n"
    )
    return yaml


# ---------------------------------------------------------------------------- COCO captions


def captions_only() -> dict:
    """As COCO ships ``captions_train2017.json``: info, licenses, images, caption annotations."""
    return {
        "info": {"description": "tiny"},
        "licenses": [],
        "images": [
            {"id": 3, "file_name": "a.png", "height": 24, "width": 32},
            {"id": 1, "file_name": "b.png", "height": 16, "width": 16},
            {"id": 2, "file_name": "c.png"},
        ],
        "annotations": [
            {"id": 10, "image_id": 1, "caption": "A square of noise. "},
            {"id": 11, "image_id": 3, "caption": "Wide noise."},
            {"id": 12, "image_id": 1, "caption": "More noise."},
        ],
    }


def make_caption_set(root, data=None):
    images = root / "train2017"
    write_image(images / "a.png", 24, 32, seed=1)
    write_image(images / "b.png", 16, 16, seed=2)
    write_image(images / "c.png", 8, 8, seed=3)
    caps = write_json(root / "annotations" / "captions_train2017.json", data or captions_only())
    return caps, images
