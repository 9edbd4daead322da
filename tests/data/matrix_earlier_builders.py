"""The earlier bad-input matrix's parts (``test_bad_input_matrix.py``): the row type, writers of
broken files, and builders that write a small broken dataset into ``tmp_path`` and return a
callable constructing the reader and reading every sample."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple
from unittest import mock

import numpy as np
from fixtures import (
    coco_data,
    make_coco,
    make_instances,
    make_mask_folder,
    make_voc,
    make_yolo,
    voc_xml,
)
from PIL import Image

from regionlab.data import io as rl_io
from regionlab.data.coco import CocoDataset
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
