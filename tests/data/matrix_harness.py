"""The bad-input matrix's parts: one row type for refused input (:class:`Bad`), one for input
that loads (:class:`Good`), how a row is opened and read, and writers of odd image files.

A :class:`Bad` row's ``build(tmp_path)`` writes a small broken dataset and returns an opener,
``open(skip_bad) -> dataset``. :func:`problem` finds the one :class:`DataError` as ``data check``
does: the reader refuses it when built, or :func:`regionlab.data.scan.scan` finds it when every
sample is decoded. ``benchmarks/bad_input_matrix.py`` turns the rows into a Markdown table.
"""

from __future__ import annotations

import re
import struct
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from fixtures import captions_only, coco_data, make_caption_set, make_coco, make_yolo
from PIL import Image

from regionlab.data.coco import CocoDataset
from regionlab.data.errors import DataError
from regionlab.data.scan import scan
from regionlab.data.yolo import YoloDataset

Opener = Callable[[bool], Any]  # skip_bad -> dataset


@dataclass(frozen=True)
class Bad:
    """Input refused before training with ``phrase`` (a regex) about ``file`` at ``where``.

    ``file``: the end of the path the error names; ``where``: the entry exactly as the error
    gives it ("" when the file as a whole is at fault); ``structural``: the whole file is
    unusable, so ``skip_bad`` does not apply and it still raises.
    """

    id: str
    build: Callable[[Path], Opener]
    phrase: str
    file: str
    where: str
    structural: bool = False


@dataclass(frozen=True)
class Good:
    """Input that loads; ``check(tmp_path)`` asserts exactly what it loads as; ``says`` states it."""

    id: str
    check: Callable[[Path], None]
    says: str


def problem(open_: Opener, skip_bad: bool = False) -> tuple[DataError, int]:
    """The one problem of a dataset and how many samples were left out for it: 0 when the
    reader refused to open, else the skipped samples plus those that fail to decode."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the skip report, counted below instead
        try:
            ds = open_(skip_bad)
        except DataError as e:
            return e, 0
    skipped = list(ds.skipped.errors) if hasattr(ds, "skipped") else []
    report = scan(ds)
    errors = skipped + report.problems
    assert len(errors) == 1, [str(e) for e in errors]
    return errors[0], len(skipped) + len(report.bad)


def assert_names(err: DataError, case: Bad) -> None:
    """``err`` names the case's file, its entry, and the problem."""
    message = str(err)
    assert Path(err.path).as_posix().endswith(case.file), message
    assert err.where == case.where, message
    assert re.search(case.phrase, err.problem), message


def relative(message: str, root: Path) -> str:
    """``message`` with the temporary folder written as ``<root>``, as the table shows it."""
    return message.replace(str(root.resolve()), "<root>").replace(str(root), "<root>")


# ---------------------------------------------------------------------------- openers


def coco(
    edit: Callable[[dict], Any] | None = None,
    files: Callable[[Path], Any] | None = None,
    **kwargs: Any,
) -> Callable[[Path], Opener]:
    """``fixtures.coco_data()`` changed by ``edit(data)``; ``files(root)`` runs after writing."""

    def build(tmp_path: Path) -> Opener:
        data = coco_data()
        if edit is not None:
            edit(data)
        ann, images, _ = make_coco(tmp_path, data)
        if files is not None:
            files(tmp_path)
        return lambda skip_bad: CocoDataset(ann, images, skip_bad=skip_bad, **kwargs)

    return build


def captions(
    edit: Callable[[dict], Any] | None = None, raw: bytes | None = None
) -> Callable[[Path], Opener]:
    """A captions file alone (``fixtures.captions_only()``), edited, or replaced by ``raw``."""

    def build(tmp_path: Path) -> Opener:
        data = captions_only()
        if edit is not None:
            edit(data)
        caps, images = make_caption_set(tmp_path, data)
        if raw is not None:
            caps.write_bytes(raw)
        return lambda skip_bad: CocoDataset(caps, images, skip_bad=skip_bad)

    return build


def yolo(label: str | bytes, extra: Callable[[Path], Any] | None = None):
    """``fixtures.make_yolo`` with ``labels/train/a.txt`` replaced by ``label``."""

    def build(tmp_path: Path) -> Opener:
        root = make_yolo(tmp_path)
        data = label if isinstance(label, bytes) else (label + "\n").encode()
        (root / "labels" / "train" / "a.txt").write_bytes(data)
        if extra is not None:
            extra(root)
        return lambda skip_bad: YoloDataset(root, skip_bad=skip_bad)

    return build


def coco_image(write: Callable[[Path], Any], name: str) -> Callable[[Path], Opener]:
    """The COCO fixture with image 11 (``b.png``) replaced by ``write(images / name)``."""

    def edit(data: dict) -> None:
        data["images"][1] = {"id": 11, "file_name": name}

    return coco(edit, files=lambda root: write(root / "images" / name))


def setter(*keys: Any, value: Any = None, drop: bool = False) -> Callable[[dict], None]:
    """An edit setting ``data[k1][k2]... = value`` (or deleting the last key)."""

    def edit(data: dict) -> None:
        target = data
        for key in keys[:-1]:
            target = target[key]
        if drop:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value

    return edit


# ---------------------------------------------------------------------------- odd image files


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width: int, height: int, depth: int, colour: int, rows: bytes) -> bytes:
    """A PNG written by hand: Pillow refuses to write some that cameras and tools do."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )


def write_bytes(data: bytes) -> Callable[[Path], Path]:
    def write(path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    return write


def gif_bomb() -> bytes:
    """A 30-byte GIF whose header claims 65535 x 65535 pixels."""
    screen = struct.pack("<HH", 65535, 65535) + b"\x00\x00\x00"
    image = b"\x2c" + struct.pack("<HHHH", 0, 0, 65535, 65535) + b"\x00"
    return b"GIF89a" + screen + image + b"\x02\x02\x4c\x01\x00\x3b"


def save(arr: np.ndarray, mode: str | None = None, **kwargs: Any) -> Callable[[Path], Path]:
    """Write ``arr`` with Pillow (converted to ``mode`` if given; format from the file name)."""

    def write(path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        img = Image.fromarray(arr)
        (img.convert(mode) if mode else img).save(path, **kwargs)
        return path

    return write


def animated(path: Path, colours: list[tuple[int, int, int]], size=(6, 4)) -> Path:
    """A GIF / APNG (by extension) with one solid frame per colour."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = [Image.new("RGB", size, c) for c in colours]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    return path
