"""The earlier bad-input matrix's refused rows (``test_bad_input_matrix.py``): one per broken
input across the five readers and ``io.load_image``."""

from __future__ import annotations

import numpy as np
from fixtures import voc_xml, write_image, write_index_png
from matrix_earlier_builders import (
    BadCase,
    _assert_nan_literal,
    _coco,
    _coco_nan_box,
    _cut_in_half,
    _empty_file,
    _huge_png_header,
    _instances,
    _label,
    _list,
    _load,
    _masks,
    _masks_low_pixel_limit,
    _set,
    _text_file,
    _truncated_jpeg,
    _voc,
    _voc_truncated_jpeg,
    _xml,
    _yolo,
)

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
