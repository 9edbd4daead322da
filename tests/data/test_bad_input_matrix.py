"""Bad-input matrix: broken files give a :class:`DataError` naming the file and the problem.

``BAD`` (``matrix_earlier_cases.py``) lists one row per broken input across the five readers and
``io.load_image``: ``build`` writes a small broken dataset into ``tmp_path`` and returns a
callable that constructs the reader and reads every sample. ``GOOD`` lists inputs that are not
errors but have documented handling. (Issue 21's rows, with skip_bad: ``test_bad_input_cases.py``.)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
)
from matrix_earlier_builders import BadCase, _label, _pixels, _xml
from matrix_earlier_cases import BAD
from PIL import Image

from regionlab.data.coco import CocoDataset
from regionlab.data.errors import DataError
from regionlab.data.instances import InstanceMaskDataset
from regionlab.data.io import load_image
from regionlab.data.masks import MaskFolderDataset
from regionlab.data.sample import Sample
from regionlab.data.voc import VocDataset
from regionlab.data.yolo import YoloDataset


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
