"""Bad-input matrix: broken files give a :class:`DataError` naming the file and the problem.

``BAD`` lists one row per broken input across the five readers and ``io.load_image``: ``build``
writes a small broken dataset into ``tmp_path`` and returns a callable that constructs the reader
and reads every sample. ``GOOD`` lists inputs that are not errors but have documented handling.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple
from unittest import mock

import numpy as np
import pytest
import torch
from fixtures import (
    coco_data,
    make_coco,
    make_instances,
    make_mask_folder,
    make_voc,
    make_yolo,
    voc_xml,
    write_image,
    write_index_png,
)
from PIL import Image

from regionlab.data import io as rl_io
from regionlab.data.coco import CocoDataset
from regionlab.data.errors import DataError
from regionlab.data.instances import InstanceMaskDataset
from regionlab.data.io import load_image
from regionlab.data.masks import MaskFolderDataset
from regionlab.data.sample import Sample
from regionlab.data.voc import VocDataset
from regionlab.data.yolo import YoloDataset

Read = Callable[[], Any]
Build = Callable[[Path], Read]


class BadCase(NamedTuple):
    id: str
    build: Build  # tmp_path -> zero-argument callable that builds the reader and reads it all
    phrase: str  # regex that must match the DataError message
    file: str  # the offending file, as it must appear in the message
    xfail: str = ""  # reader defect that makes this case fail today ("" = must pass)


# ------------------------------------------------------------------------------ broken files


def _pixels(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _empty_file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def _text_file(path: Path) -> Path:
    path.write_text("not an image\n")
    return path


def _cut_in_half(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _truncated_jpeg(path: Path) -> Path:
    """A 48x48 JPEG cut in half: the header is intact, the scan data is not."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_pixels((48, 48, 3))).save(path, format="JPEG", quality=95)
    return _cut_in_half(path)


def _huge_png_header(path: Path, width: int = 100_000, height: int = 100_000) -> Path:
    """A ~60-byte PNG whose header claims ``width`` x ``height`` greyscale pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 16))
        + chunk(b"IEND", b"")
    )
    return path


# ------------------------------------------------------------------------------ builders


def _read_all(make: Callable[[], Any]) -> Read:
    def read() -> list[Sample]:
        ds = make()
        return [ds[i] for i in range(len(ds))]

    return read


def _load(make_file: Callable[[Path], Path]) -> Build:
    def build(tmp_path: Path) -> Read:
        path = make_file(tmp_path)
        return lambda: load_image(path)

    return build


def _coco(
    edit: Callable[[dict], Any] | None = None, files: Callable[[Path, Path], Any] | None = None
) -> Build:
    """``fixtures.coco_data()`` changed by ``edit(data)``; ``files(root, ann)`` runs afterwards."""

    def build(tmp_path: Path) -> Read:
        data = coco_data()
        if edit is not None:
            edit(data)
        ann, images, _ = make_coco(tmp_path, data)
        if files is not None:
            files(tmp_path, ann)
        return _read_all(lambda: CocoDataset(ann, images))

    return build


def _set(keys: list, value: Any) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        target = data
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return edit


def _coco_nan_box(data: dict) -> None:
    data["annotations"][0]["bbox"] = [2, 2, float("nan"), 3]


def _assert_nan_literal(root: Path, ann: Path) -> None:
    assert b"NaN" in ann.read_bytes()  # json.dumps writes the bare NaN literal json accepts


def _voc(change: Callable[[Path], Any], **kwargs: Any) -> Build:
    def build(tmp_path: Path) -> Read:
        root = make_voc(tmp_path)
        change(root)
        return _read_all(lambda: VocDataset(root, **kwargs))

    return build


def _xml(name: str, text: str | bytes) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        data = text if isinstance(text, bytes) else text.encode("utf-8")
        (root / "Annotations" / name).write_bytes(data)

    return change


def _voc_truncated_jpeg(root: Path) -> None:
    _truncated_jpeg(root / "JPEGImages" / "d.jpg")
    _xml("d.xml", voc_xml("d.jpg", None, []))(root)


def _masks(change: Callable[[Path], Any]) -> Build:
    def build(tmp_path: Path) -> Read:
        lst = make_mask_folder(tmp_path)
        change(tmp_path)
        return _read_all(lambda: MaskFolderDataset(lst, num_classes=3, ignore_index=11))

    return build


def _list(text: str | bytes) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        data = text if isinstance(text, bytes) else text.encode("utf-8")
        (root / "list.txt").write_bytes(data)

    return change


def _masks_low_pixel_limit(tmp_path: Path) -> Read:
    """``io.MAX_PIXELS`` lowered to 100 so a 16x16 image counts as a decompression bomb."""
    read = _masks(lambda root: None)(tmp_path)

    def run() -> Any:
        with mock.patch.object(rl_io, "MAX_PIXELS", 100):
            return read()

    return run


def _instances(change: Callable[[Path, Path], Any]) -> Build:
    def build(tmp_path: Path) -> Read:
        images, masks = make_instances(tmp_path)
        change(images, masks)
        return _read_all(lambda: InstanceMaskDataset(images, masks))

    return build


def _yolo(change: Callable[[Path], Any]) -> Build:
    def build(tmp_path: Path) -> Read:
        root = make_yolo(tmp_path)
        change(root)
        return _read_all(lambda: YoloDataset(root))

    return build


def _label(text: str) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        (root / "labels" / "train" / "a.txt").write_text(text + "\n")

    return change


# ------------------------------------------------------------------------------ the bad table

BAD: list[BadCase] = [
    # io.load_image
    BadCase(
        "load_image-missing",
        _load(lambda d: d / "nope.png"),
        r"image file \S*nope\.png does not exist",
        "nope.png",
    ),
    BadCase(
        "load_image-zero-byte-png",
        _load(lambda d: _empty_file(d / "zero.png")),
        r"file is empty \(0 bytes\)",
        "zero.png",
    ),
    BadCase(
        "load_image-truncated-jpeg",
        _load(lambda d: _truncated_jpeg(d / "cut.jpg")),
        r"cannot decode image: image file is truncated",
        "cut.jpg",
    ),
    BadCase(
        "load_image-decompression-bomb",
        _load(lambda d: _huge_png_header(d / "bomb.png")),
        r"possible decompression bomb",
        "bomb.png",
    ),
    BadCase(
        "load_image-not-an-image",
        _load(lambda d: _text_file(d / "text.png")),
        r"cannot decode image: cannot identify image file",
        "text.png",
    ),
    # COCO
    BadCase(
        "coco-malformed-json",
        _coco(files=lambda root, ann: ann.write_text('{"images": [\n  {"id": 1,, }]}')),
        r"\(line 2, col \d+\): malformed JSON",
        "instances.json",
    ),
    BadCase(
        "coco-empty-file",
        _coco(files=lambda root, ann: ann.write_bytes(b"")),
        r"\(line 1, col 1\): malformed JSON: Expecting value",
        "instances.json",
    ),
    BadCase(
        "coco-degenerate-box",
        _coco(_set(["annotations", 0, "bbox"], [5, 2, -3, 10])),
        r"bbox \[5, 2, -3, 10\] \(x, y, width, height\) has non-positive width or height",
        "instances.json",
    ),
    BadCase(
        "coco-negative-box-outside",
        _coco(_set(["annotations", 0, "bbox"], [-10, -10, 5, 5])),
        r"bbox \[-10, -10, 5, 5\] \(x, y, width, height\) lies outside the 32x24 image",
        "instances.json",
    ),
    BadCase(
        "coco-nan-box",
        _coco(_coco_nan_box, files=_assert_nan_literal),
        r"\(annotation id 100, image id 10\): bbox \[2, 2, nan, 3\] has a non-finite value",
        "instances.json",
    ),
    BadCase(
        "coco-polygon-two-points",
        _coco(_set(["annotations", 0, "segmentation"], [[2, 2, 10, 2]])),
        r"polygon 0 needs at least 3 \(x, y\) points, got 4 values",
        "instances.json",
    ),
    BadCase(
        "coco-rle-wrong-size",
        _coco(_set(["annotations", 2, "segmentation", "size"], [10, 10])),
        r"RLE size \[10, 10\] differs from the image size \[24, 32\]",
        "instances.json",
    ),
    BadCase(
        "coco-rle-counts-wrong-total",
        _coco(_set(["annotations", 2, "segmentation", "counts"], [5, 3])),
        r"summing to H\*W = 768",
        "instances.json",
    ),
    BadCase(
        "coco-duplicate-image-id",
        _coco(_set(["images", 1, "id"], 10)),
        r"\(images\[1\]\): duplicate image id 10",
        "instances.json",
    ),
    BadCase(
        "coco-unknown-category",
        _coco(_set(["annotations", 0, "category_id"], 42)),
        r"unknown category id 42",
        "instances.json",
    ),
    BadCase(
        "coco-file-name-escapes-root",
        _coco(_set(["images", 1, "file_name"], "../../etc/passwd")),
        r"'\.\./\.\./etc/passwd' points outside the dataset root",
        "instances.json",
    ),
    BadCase(
        "coco-missing-image",
        _coco(lambda d: d["images"].append({"id": 13, "file_name": "gone.png"})),
        r"\(image id 13\): image file \S*gone\.png does not exist",
        "instances.json",
    ),
    BadCase(
        "coco-zero-byte-png",
        _coco(files=lambda root, ann: _empty_file(root / "images" / "b.png")),
        r"\(image id 11\): cannot read image header",
        "images/b.png",
    ),
    BadCase(
        "coco-truncated-png",
        _coco(files=lambda root, ann: _cut_in_half(root / "images" / "a.png")),
        r"\(image id 10\): cannot decode image: image file is truncated",
        "images/a.png",
    ),
    BadCase(
        "coco-decompression-bomb-header",
        _coco(
            lambda d: d["images"].append({"id": 13, "file_name": "huge.png"}),
            files=lambda root, ann: _huge_png_header(root / "images" / "huge.png"),
        ),
        r"decompression bomb",
        "huge.png",
    ),
    # Pascal VOC
    BadCase(
        "voc-non-utf8-xml",
        _voc(_xml("a.xml", b"<annotation><filename>\xe9.png</filename></annotation>")),
        r"XML is not valid UTF-8",
        "a.xml",
    ),
    BadCase(
        "voc-malformed-xml",
        _voc(_xml("a.xml", "<annotation><filename>a.png</filename>\n<object></annotation>")),
        r"\(line 2, col \d+\): malformed XML",
        "a.xml",
    ),
    BadCase(
        "voc-empty-xml",
        _voc(_xml("a.xml", b"")),
        r"malformed XML: no element found",
        "a.xml",
    ),
    BadCase(
        "voc-object-without-bndbox",
        _voc(
            _xml(
                "a.xml",
                "<annotation><filename>a.png</filename>"
                "<object><name>cat</name></object></annotation>",
            )
        ),
        r"\(object 0\): object has no <bndbox>",
        "a.xml",
    ),
    BadCase(
        "voc-degenerate-box",
        _voc(_xml("a.xml", voc_xml("a.png", None, [("cat", 10, 1, 8, 8)]))),
        r"<bndbox> xmin=10 ymin=1 xmax=8 ymax=8 has non-positive width or height",
        "a.xml",
    ),
    BadCase(
        "voc-negative-box-outside",
        _voc(_xml("a.xml", voc_xml("a.png", None, [("cat", -20, 1, 8, 8)]))),
        r"<bndbox> xmin=-20 ymin=1 xmax=8 ymax=8 lies outside the 32x24 image",
        "a.xml",
    ),
    BadCase(
        "voc-filename-escapes-root",
        _voc(_xml("a.xml", voc_xml("../../etc/passwd", None, []))),
        r"\(<filename>\): file name '\.\./\.\./etc/passwd' points outside the dataset root",
        "a.xml",
    ),
    BadCase(
        "voc-split-names-missing-xml",
        _voc(
            lambda root: (root / "ImageSets" / "Main" / "train.txt").write_text("b\nzz\n"),
            split="train",
        ),
        r"\(line 2\): names 'zz' but .*zz\.xml does not exist",
        "train.txt",
    ),
    BadCase(
        "voc-segmentation-class-out-of-range",
        _voc(
            lambda root: write_index_png(root / "SegmentationClass" / "a.png", np.full((24, 32), 7))
        ),
        r"class index 7 is not below the number of classes 3",
        "SegmentationClass/a.png",
    ),
    BadCase(
        "voc-segmentation-size-differs",
        _voc(
            lambda root: write_index_png(root / "SegmentationClass" / "a.png", np.zeros((10, 10)))
        ),
        r"mask is 10x10 but image a\.png is 32x24",
        "SegmentationClass/a.png",
    ),
    BadCase(
        "voc-truncated-jpeg",
        _voc(_voc_truncated_jpeg),
        r"cannot decode image: image file is truncated",
        "JPEGImages/d.jpg",
    ),
    # mask folder (CamVid layout)
    BadCase(
        "masks-list-line-one-field",
        _masks(_list("train/a.png\n")),
        r"\(line 1\): expected 2 fields 'image annotation', got 1",
        "list.txt",
    ),
    BadCase(
        "masks-list-names-missing-file",
        _masks(_list("train/a.png trainannot/zz.png\n")),
        r"\(line 1\): image file \S*trainannot/zz\.png does not exist",
        "list.txt",
    ),
    BadCase(
        "masks-list-escapes-root",
        _masks(_list("../../etc/passwd trainannot/a.png\n")),
        r"\(line 1\): file name '\.\./\.\./etc/passwd' points outside the dataset root",
        "list.txt",
    ),
    BadCase(
        "masks-list-not-utf8",
        _masks(_list(b"train/\xff.png trainannot/a.png\n")),
        r"not valid UTF-8",
        "list.txt",
    ),
    BadCase(
        "masks-mask-size-differs",
        _masks(lambda root: write_index_png(root / "trainannot" / "b.png", np.zeros((8, 16)))),
        r"\(line 3\): mask is 16x8 but image train/b\.png is 16x16",
        "trainannot/b.png",
    ),
    BadCase(
        "masks-class-index-beyond-num-classes",
        _masks(lambda root: write_index_png(root / "trainannot" / "b.png", np.full((16, 16), 7))),
        r"\(line 3\): class index 7 is not in 0\.\.2",
        "trainannot/b.png",
    ),
    BadCase(
        "masks-zero-byte-mask-png",
        _masks(lambda root: _empty_file(root / "trainannot" / "b.png")),
        r"\(line 3\): cannot read image header",
        "trainannot/b.png",
    ),
    BadCase(
        "masks-rgb-mask",
        _masks(lambda root: write_image(root / "trainannot" / "b.png", 16, 16)),
        r"mask must be a single-channel index image, got mode RGB",
        "trainannot/b.png",
    ),
    BadCase(
        "masks-image-above-max-pixels",
        _masks_low_pixel_limit,
        r"\(line 1\): image claims 16x16 pixels, above the limit of 100 "
        r"\(possible decompression bomb\)",
        "train/a.png",
    ),
    # instance masks (Penn-Fudan layout)
    BadCase(
        "instances-image-without-mask",
        _instances(lambda images, masks: write_image(images / "c.png", 16, 16)),
        r"mask file c_mask\.png does not exist",
        "PNGImages/c.png",
    ),
    BadCase(
        "instances-mask-size-differs",
        _instances(
            lambda images, masks: (
                write_image(images / "c.png", 16, 16),
                write_index_png(masks / "c_mask.png", np.zeros((16, 18))),
            )
        ),
        r"mask is 18x16 but image c\.png is 16x16",
        "PedMasks/c_mask.png",
    ),
    BadCase(
        "instances-mask-without-image",
        _instances(lambda images, masks: write_index_png(masks / "z_mask.png", np.zeros((8, 8)))),
        r"no image for this mask",
        "PedMasks/z_mask.png",
    ),
    BadCase(
        "instances-rgb-mask",
        _instances(lambda images, masks: write_image(masks / "b_mask.png", 16, 16)),
        r"mask must be a single-channel index image, got mode RGB",
        "PedMasks/b_mask.png",
    ),
    BadCase(
        "instances-zero-byte-image",
        _instances(lambda images, masks: _empty_file(images / "b.png")),
        r"cannot read image header",
        "PNGImages/b.png",
    ),
    # YOLO
    BadCase(
        "yolo-coordinate-above-1",
        _yolo(_label("0 1.5 0.5 0.1 0.1")),
        r"\(line 1\): coordinates \(1\.5, 0\.5, 0\.1, 0\.1\) outside 0\.\.1",
        "train/a.txt",
    ),
    BadCase(
        "yolo-class-id-out-of-range",
        _yolo(_label("0 0.5 0.5 0.5 0.5\n5 0.5 0.5 0.5 0.5")),
        r"\(line 2\): class id 5 is not below the number of classes 2",
        "train/a.txt",
    ),
    BadCase(
        "yolo-negative-class-id",
        _yolo(_label("-1 0.5 0.5 0.5 0.5")),
        r"\(line 1\): class id -1 is negative",
        "train/a.txt",
    ),
    BadCase(
        "yolo-wrong-field-count",
        _yolo(_label("0 0.5 0.5 0.5")),
        r"\(line 1\): expected 5 fields 'class cx cy w h', got 4",
        "train/a.txt",
    ),
    BadCase(
        "yolo-nan",
        _yolo(_label("0 nan 0.5 0.5 0.5")),
        r"\(line 1\): non-finite value in '0 nan 0\.5 0\.5 0\.5'",
        "train/a.txt",
    ),
    BadCase(
        "yolo-degenerate-box",
        _yolo(_label("0 0.5 0.5 0 0.5")),
        r"\(line 1\): box has non-positive width or height",
        "train/a.txt",
    ),
    BadCase(
        "yolo-label-without-image",
        _yolo(lambda root: (root / "labels" / "train" / "gone.txt").write_text("0 .5 .5 .5 .5\n")),
        r"no image for this label file",
        "train/gone.txt",
    ),
    BadCase(
        "yolo-truncated-jpeg",
        _yolo(lambda root: _truncated_jpeg(root / "images" / "train" / "d.jpg")),
        r"cannot decode image: image file is truncated",
        "train/d.jpg",
    ),
    BadCase(
        "yolo-zero-byte-png",
        _yolo(lambda root: _empty_file(root / "images" / "train" / "b.png")),
        r"file is empty \(0 bytes\)",
        "train/b.png",
    ),
    BadCase(
        "yolo-unlabelled-decompression-bomb",
        _yolo(lambda root: _huge_png_header(root / "images" / "train" / "c.png")),
        r"possible decompression bomb",
        "train/c.png",
    ),
]


def _param(case: BadCase):
    marks = ()
    if case.xfail:
        marks = pytest.mark.xfail(
            strict=True, raises=Image.DecompressionBombError, reason=case.xfail
        )
    return pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in BAD])
def test_bad_input_raises_data_error(tmp_path: Path, case: BadCase) -> None:
    read = case.build(tmp_path)
    with pytest.raises(DataError) as info:
        read()
    message = str(info.value)
    assert case.file in message, message
    assert re.search(case.phrase, message), message


# ------------------------------------------------------------------------------ not errors


def _assert_rgb(image: torch.Tensor, height: int, width: int) -> None:
    assert image.dtype == torch.uint8 and tuple(image.shape) == (3, height, width)


def _assert_no_objects(s: Sample) -> None:
    assert s.boxes.shape == (0, 4) and s.boxes.dtype == torch.float32
    assert s.labels.shape == (0,) and s.labels.dtype == torch.int64


def _greyscale_loads_as_rgb(tmp_path: Path) -> None:
    arr = _pixels((12, 10))
    Image.fromarray(arr).save(tmp_path / "grey.png")
    image = load_image(tmp_path / "grey.png")
    _assert_rgb(image, 12, 10)
    assert all(torch.equal(image[c], torch.from_numpy(arr)) for c in range(3))


def _rgba_drops_alpha(tmp_path: Path) -> None:
    arr = _pixels((12, 10, 4))
    Image.fromarray(arr).save(tmp_path / "rgba.png")
    image = load_image(tmp_path / "rgba.png")
    _assert_rgb(image, 12, 10)
    assert torch.equal(image, torch.from_numpy(arr[..., :3].copy()).permute(2, 0, 1))


def _16bit_scales_to_uint8(tmp_path: Path) -> None:
    arr = np.array([[0, 65535, 32896], [1000, 20000, 65535]], dtype=np.uint16)
    Image.fromarray(arr).save(tmp_path / "deep.png")
    with Image.open(tmp_path / "deep.png") as img:
        assert img.mode.startswith("I")  # really a 16-bit file
    image = load_image(tmp_path / "deep.png")
    _assert_rgb(image, 2, 3)
    assert torch.equal(image[0], image[1]) and torch.equal(image[0], image[2])
    assert image[0, 0, 0] == 0 and image[0, 0, 1] == 255  # the maximum maps to 255
    assert np.abs(image[0].numpy() - arr / 65535 * 255).max() <= 1


def _coco_image_without_objects(tmp_path: Path) -> None:
    ann, images, _ = make_coco(tmp_path)
    s = CocoDataset(ann, images)[1]  # image 11 has no annotations
    assert s.image_id == 11
    _assert_no_objects(s)


def _voc_xml_without_objects(tmp_path: Path) -> None:
    root = make_voc(tmp_path)
    _xml("b.xml", voc_xml("b.png", (16, 16), []))(root)
    s = VocDataset(root, classes=["cat", "dog"])[1]
    assert s.image_id == "b"
    _assert_no_objects(s)


def _yolo_empty_label_file_and_no_label_file(tmp_path: Path) -> None:
    root = make_yolo(tmp_path)
    (root / "labels" / "train" / "a.txt").write_text("")
    ds = YoloDataset(root)
    assert len(ds) == 2  # a: empty label file, b: no label file; both are negatives
    for i in range(2):
        _assert_no_objects(ds[i])


def _instances_all_background_mask(tmp_path: Path) -> None:
    images, masks = make_instances(tmp_path)
    s = InstanceMaskDataset(images, masks)[1]
    _assert_no_objects(s)
    assert s.masks.shape == (0, 16, 16)


def _mask_folder_has_no_objects(tmp_path: Path) -> None:
    ds = MaskFolderDataset(make_mask_folder(tmp_path), num_classes=3, ignore_index=11)
    _assert_no_objects(ds[0])


def _skips_one(make: Callable[[], Any], total: int, file: str, phrase: str) -> Any:
    """``skip_bad=True`` leaves one of ``total`` samples out, and says so in a warning."""
    with pytest.warns(UserWarning, match="skipped 1 bad sample") as record:
        ds = make()
    assert ds.skipped.count == 1 and len(ds) == total - 1  # nothing dropped silently
    err = str(ds.skipped.errors[0])
    assert file in err and re.search(phrase, err), err
    assert any(err in str(w.message) for w in record)
    assert all(isinstance(ds[i], Sample) for i in range(len(ds)))
    return ds


def _coco_skip_bad(tmp_path: Path) -> None:
    data = coco_data()
    data["annotations"][0]["category_id"] = 42
    ann, images, _ = make_coco(tmp_path, data)
    ds = _skips_one(
        lambda: CocoDataset(ann, images, skip_bad=True), 3, "instances.json", "category id 42"
    )
    assert ds.image_ids == [11, 12]


def _voc_skip_bad(tmp_path: Path) -> None:
    root = make_voc(tmp_path)
    bad = "<annotation><filename>a.png</filename><object><name>cat</name></object></annotation>"
    _xml("a.xml", bad)(root)
    ds = _skips_one(lambda: VocDataset(root, skip_bad=True), 3, "a.xml", "no <bndbox>")
    assert ds.image_ids == ["b", "c"]


def _masks_skip_bad(tmp_path: Path) -> None:
    lst = make_mask_folder(tmp_path)
    lst.write_text(lst.read_text() + "train/zz.png trainannot/a.png\n")
    ds = _skips_one(
        lambda: MaskFolderDataset(lst, num_classes=3, ignore_index=11, skip_bad=True),
        3,
        "list.txt",
        r"\(line 4\): .*zz\.png does not exist",
    )
    assert [ds[i].image_id for i in range(len(ds))] == ["train/a.png", "train/b.png"]


def _instances_skip_bad(tmp_path: Path) -> None:
    images, masks = make_instances(tmp_path)
    write_image(images / "c.png", 16, 16)
    ds = _skips_one(
        lambda: InstanceMaskDataset(images, masks, skip_bad=True),
        3,
        "c.png",
        r"c_mask\.png does not exist",
    )
    assert [ds[i].image_id for i in range(len(ds))] == ["a", "b"]


def _yolo_skip_bad(tmp_path: Path) -> None:
    root = make_yolo(tmp_path)
    _label("7 0.5 0.5 0.5 0.5")(root)
    ds = _skips_one(lambda: YoloDataset(root, skip_bad=True), 2, "a.txt", r"\(line 1\): class id 7")
    assert ds[0].image_id == "train/b"


GOOD: dict[str, Callable[[Path], None]] = {
    "load_image-greyscale": _greyscale_loads_as_rgb,
    "load_image-rgba": _rgba_drops_alpha,
    "load_image-16-bit": _16bit_scales_to_uint8,
    "coco-image-without-objects": _coco_image_without_objects,
    "voc-xml-without-objects": _voc_xml_without_objects,
    "yolo-empty-or-missing-label-file": _yolo_empty_label_file_and_no_label_file,
    "instances-all-background-mask": _instances_all_background_mask,
    "masks-no-objects": _mask_folder_has_no_objects,
    "coco-skip-bad": _coco_skip_bad,
    "voc-skip-bad": _voc_skip_bad,
    "masks-skip-bad": _masks_skip_bad,
    "instances-skip-bad": _instances_skip_bad,
    "yolo-skip-bad": _yolo_skip_bad,
}


@pytest.mark.parametrize("case", list(GOOD))
def test_documented_handling_is_not_an_error(tmp_path: Path, case: str) -> None:
    GOOD[case](tmp_path)


def test_bad_table_size_and_coverage() -> None:
    ids = [c.id for c in BAD]
    assert len(set(ids)) == len(ids) >= 28
    readers = {i.split("-")[0] for i in ids}
    assert readers == {"load_image", "coco", "voc", "masks", "instances", "yolo"}
