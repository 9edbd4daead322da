"""Bad-input matrix rows that load: odd but valid YOLO labels, instance masks and image files,
each with exactly what it loads as (:func:`regionlab.data.io.load_image` states the rules)."""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures import make_instances, make_yolo, write_image
from matrix_harness import Good, animated, png_bytes, save, write_bytes
from PIL import Image

from regionlab.data.instances import InstanceMaskDataset
from regionlab.data.io import load_image
from regionlab.data.yolo import YoloDataset


def _yolo_with(tmp_path: Path, text: str | bytes) -> YoloDataset:
    root = make_yolo(tmp_path)
    data = text.encode() if isinstance(text, str) else text
    (root / "labels" / "train" / "a.txt").write_bytes(data)
    return YoloDataset(root)


def _yolo_seg_polygon(tmp_path: Path) -> None:
    ds = _yolo_with(tmp_path, "1 0.25 0.25 0.75 0.25 0.75 0.75 0.25 0.75\n")  # 40x20 image
    s = ds[0]
    assert ds.has_masks and s.boxes.tolist() == [[10, 5, 30, 15]] and s.labels.tolist() == [2]
    want = torch.zeros((20, 40), dtype=torch.bool)
    want[5:15, 10:30] = True  # COCO's rasterisation: pixel (x, y) covers [x, x+1) x [y, y+1)
    assert torch.equal(s.masks[0], want)
    assert torch.equal(s.semantic, want.long() * 2)
    assert ds[1].masks.shape == (0, 16, 16)  # an image without a label file: no objects


def _yolo_seg_mixed(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="1 of 2 objects have polygons"):
        ds = _yolo_with(tmp_path, "1 0.25 0.25 0.75 0.25 0.75 0.75\n0 0.5 0.5 0.5 0.5\n")
    s = ds[0]
    assert not ds.has_masks and s.masks is None
    assert s.boxes.tolist() == [[10, 5, 30, 15], [10, 5, 30, 15]]


def _yolo_seg_tolerance(tmp_path: Path) -> None:
    ds = _yolo_with(tmp_path, "0 0.5 0.0 1.0005 0.0 1.0005 1.0\n")
    assert ds[0].boxes.tolist() == [[20, 0, 40, 20]]  # 1e-3 past the edge: clipped
    assert ds[0].masks[0, :, 39].any()


def _yolo_bom_crlf_tabs(tmp_path: Path) -> None:
    ds = _yolo_with(tmp_path, b"\xef\xbb\xbf0\t0.5 0.5  0.5 0.5\r\n\r\n")
    assert ds[0].boxes.tolist() == [[10, 5, 30, 15]] and ds[0].labels.tolist() == [1]


def _instances_with(tmp_path: Path, write_mask) -> InstanceMaskDataset:
    images, masks = make_instances(tmp_path)
    write_mask(masks / "b_mask.png")
    return InstanceMaskDataset(images, masks)


def _instances_16_bit_ids(tmp_path: Path) -> None:
    ids = np.zeros((16, 16), np.uint16)
    ids[0:4, 0:4], ids[8:10, 2:12] = 300, 1000
    s = _instances_with(tmp_path, save(ids))[1]
    assert s.boxes.tolist() == [[0, 0, 4, 4], [2, 8, 12, 10]]
    assert s.masks.sum((1, 2)).tolist() == [16, 20]


def _instances_palette(tmp_path: Path) -> None:
    ids = np.zeros((16, 16), np.uint8)
    ids[4:6, 4:8] = 2

    def write(path: Path) -> None:
        img = Image.fromarray(ids).convert("P")
        img.putpalette([200, 10, 10] * 256)  # every colour the same: only the indices count
        img.save(path)

    s = _instances_with(tmp_path, write)[1]
    assert s.boxes.tolist() == [[4, 4, 8, 6]] and s.masks.shape == (1, 16, 16)


def _instances_1_bit(tmp_path: Path) -> None:
    ids = np.zeros((16, 16), np.uint8)
    ids[1:3, 5:9] = 255
    s = _instances_with(tmp_path, save(ids, "1"))[1]
    assert s.boxes.tolist() == [[5, 1, 9, 3]] and s.labels.tolist() == [1]


def _instances_1x1(tmp_path: Path) -> None:
    images, masks = make_instances(tmp_path)
    write_image(images / "c.png", 1, 1)
    save(np.ones((1, 1), np.uint8))(masks / "c_mask.png")
    s = InstanceMaskDataset(images, masks)[2]
    assert s.image.shape == (3, 1, 1) and s.boxes.tolist() == [[0, 0, 1, 1]]


def _load(tmp_path: Path, name: str, write) -> torch.Tensor:
    path = write(tmp_path / name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no Pillow warning reaches the user
        return load_image(path)


def _rgb(image: torch.Tensor) -> list:
    return image.permute(1, 2, 0).tolist()


def _one_pixel(tmp_path: Path) -> None:
    image = _load(tmp_path, "one.png", save(np.array([[[1, 2, 3]]], np.uint8)))
    assert _rgb(image) == [[[1, 2, 3]]]


def _cmyk_jpeg(tmp_path: Path) -> None:
    def write(path: Path) -> Path:
        Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(path, quality=100)
        return path

    image = _load(tmp_path, "cmyk.jpg", write)
    assert image.shape == (3, 8, 8)
    assert (image[:, 4, 4] - torch.tensor([255, 0, 0])).abs().max() <= 2  # C=0 M=Y=255: red


def _sixteen_bit_grey(tmp_path: Path) -> None:
    arr = np.array([[0, 4095], [257, 65535]], np.uint16)  # a 12-bit camera's range
    image = _load(tmp_path, "deep.png", save(arr))
    assert image[0].tolist() == [[0, 16], [1, 255]]  # /257: 4095 -> 16, not stretched to 255
    assert torch.equal(image[0], image[1]) and torch.equal(image[0], image[2])


def _sixteen_bit_rgb(tmp_path: Path) -> None:
    row = b"\0" + struct.pack(">HHH", 0x1234, 0xABCD, 0xFFFF) * 2
    image = _load(tmp_path, "rgb48.png", write_bytes(png_bytes(2, 1, 16, 2, row)))
    assert _rgb(image) == [[[0x12, 0xAB, 0xFF]] * 2]  # Pillow keeps each sample's high byte


def _palette(transparency: bool):
    def check(tmp_path: Path) -> None:
        img = Image.fromarray(np.array([[0, 1], [2, 3]], np.uint8)).convert("P")
        img.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9])
        extra = {"transparency": bytes([0, 255, 128, 255])} if transparency else {}
        img.save(tmp_path / "pal.png", **extra)
        image = _load(tmp_path, "pal.png", lambda p: p)
        assert _rgb(image) == [[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [9, 9, 9]]]

    return check


def _grey_alpha(tmp_path: Path) -> None:
    def write(path: Path) -> Path:
        Image.new("LA", (2, 2), (70, 9)).save(path)
        return path

    assert _rgb(_load(tmp_path, "la.png", write)) == [[[70] * 3] * 2] * 2


def _one_bit(tmp_path: Path) -> None:
    arr = np.array([[0, 255, 0]], np.uint8)
    image = _load(tmp_path, "bits.png", save(arr, "1"))
    assert _rgb(image) == [[[0] * 3, [255] * 3, [0] * 3]]


def _animation(name: str):
    def check(tmp_path: Path) -> None:
        path = animated(tmp_path / name, [(255, 0, 0), (0, 255, 0), (0, 0, 255)])
        with Image.open(path) as img:
            assert img.n_frames == 3
        image = _load(tmp_path, name, lambda p: p)
        assert image.shape == (3, 4, 6) and image[:, 0, 0].tolist() == [255, 0, 0]

    return check


def _jpeg_named_png(tmp_path: Path) -> None:
    def write(path: Path) -> Path:
        Image.new("RGB", (5, 3), (0, 0, 250)).save(path, format="JPEG", quality=100)
        return path

    image = _load(tmp_path, "really_a_jpeg.png", write)
    assert (
        image.shape == (3, 3, 5) and (image[:, 1, 2] - torch.tensor([0, 0, 250])).abs().max() <= 2
    )


def _bmp(tmp_path: Path) -> None:
    arr = np.random.default_rng(0).integers(0, 256, (3, 5, 3), dtype=np.uint8)
    image = _load(tmp_path, "x.bmp", save(arr))
    assert torch.equal(image, torch.from_numpy(arr).permute(2, 0, 1))


GOOD_FILES: list[Good] = [
    Good("yolo-seg-polygon", _yolo_seg_polygon,
         "box = the polygon's extent; mask rasterised as a COCO polygon; semantic = label"),
    Good("yolo-seg-mixed-with-boxes", _yolo_seg_mixed,
         "boxes for every object, no masks, and a warning saying how many had polygons"),
    Good("yolo-seg-within-tolerance", _yolo_seg_tolerance,
         "a point up to 1e-3 past 1 is kept; the box is clipped to the image"),
    Good("yolo-label-bom-crlf-tabs", _yolo_bom_crlf_tabs,
         "a UTF-8 BOM, CRLF line ends and tabs read as a plain line"),
    Good("instances-16-bit-ids", _instances_16_bit_ids, "instance ids above 255 kept"),
    Good("instances-palette-mask", _instances_palette, "the palette indices, not the colours"),
    Good("instances-1-bit-mask", _instances_1_bit, "a 1-bit mask is one instance"),
    Good("instances-1x1", _instances_1x1, "a 1x1 image and mask: one 1x1 box"),
    Good("image-1x1", _one_pixel, "loads: (3, 1, 1)"),
    Good("image-cmyk-jpeg", _cmyk_jpeg, "converted to RGB by Pillow"),
    Good("image-16-bit-grey", _sixteen_bit_grey,
         "each sample / 257 (65535 -> 255), the same scale for every image"),
    Good("image-16-bit-rgb", _sixteen_bit_rgb, "each sample's high byte (Pillow's reading)"),
    Good("image-palette-transparency", _palette(True),
         "the palette colours, transparency dropped, no Pillow warning"),
    Good("image-palette", _palette(False), "the palette colours"),
    Good("image-grey-alpha", _grey_alpha, "grey on three channels, alpha dropped"),
    Good("image-1-bit", _one_bit, "0 / 255 on three channels"),
    Good("image-animated-gif", _animation("anim.gif"), "the first frame"),
    Good("image-animated-png", _animation("anim.png"), "the first frame"),
    Good("image-jpeg-named-png", _jpeg_named_png, "read by its content, not its extension"),
    Good("image-bmp", _bmp, "loads with the same pixels"),
]  # fmt: skip
