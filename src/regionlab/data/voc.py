"""Pascal VOC reader: one XML per image with boxes, optional class-index PNGs for ``semantic``.

Layout (names configurable)::

    root/JPEGImages/<id>.jpg  root/Annotations/<id>.xml  root/SegmentationClass/<id>.png
    root/ImageSets/Main/<split>.txt

The raccoon dataset works with ``images="images", annotations="annotations"``.
"""

from __future__ import annotations

import csv
import math
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import torch

from regionlab.data.checks import check_box
from regionlab.data.errors import DataError, SkipReport
from regionlab.data.io import image_size, load_image, load_index_png, resolve_inside
from regionlab.data.sample import IGNORE_INDEX, Dataset, Sample

# Tried, in order, when <filename> does not name an existing file (tools often write a stale or
# extension-less name); the XML's own stem is then used.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".JPG", ".JPEG", ".PNG", ".BMP")


def parse_xml(path: str | Path) -> ET.Element:
    """Parse an XML file that must be UTF-8; problems raise :class:`DataError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "annotation file does not exist")
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(path, f"XML is not valid UTF-8 ({e.reason} at byte {e.start})") from e
    # Entity declarations are never needed in VOC files and are how "billion laughs" XML works.
    if b"<!ENTITY" in data:
        raise DataError(path, "XML entity declarations are not allowed")
    try:
        return ET.fromstring(data)
    except ET.ParseError as e:
        line, col = e.position
        raise DataError(path, f"malformed XML: {e}", f"line {line}, col {col}") from e


@dataclass
class _Record:
    image_id: str
    xml: Path
    image: Path
    height: int
    width: int
    names: list[str]
    boxes: list[list[float]]
    difficult: list[bool]
    seg: Path | None


class VocDataset(Dataset):
    """Pascal VOC detection (and optional semantic segmentation).

    Items are :class:`Sample` with ``boxes`` ``float32 (N, 4)`` ``xyxy`` pixels — VOC's 1-based
    inclusive ``bndbox`` becomes ``(xmin - 1, ymin - 1, xmax, ymax)`` — and ``labels`` indexing
    ``classes = ["background", *names]``. ``<difficult>1</difficult>`` objects are kept but
    flagged in ``iscrowd`` so detectors and metrics ignore them, as VOC evaluation does.

    ``semantic`` ``int64 (H, W)`` is read from ``segmentation/<id>.png`` (palette indices, 255 =
    ``IGNORE_INDEX``) when that file exists, else ``None``; its indices are used as they are, so
    they must follow ``classes`` (VOC's own 20 classes sorted by name do). ``masks`` is ``None``.

    ``split``: ``None`` = every XML in ``annotations`` (sorted), a name whose
    ``ImageSets/Main/<split>.txt`` lists ids, or a path to such a list file (first field per line).
    ``classes``: object names in label order (a leading ``"background"`` is allowed), or ``None``
    to use the sorted unique names found. ``image_id`` is the XML stem.

    XML files are parsed and image headers read here; pixels are decoded in ``__getitem__``.
    With ``skip_bad=True`` bad images are left out and listed in ``self.skipped``.
    """

    image_files = ("_records", "image")

    def __init__(
        self,
        root: str | Path,
        *,
        images: str = "JPEGImages",
        annotations: str = "Annotations",
        segmentation: str = "SegmentationClass",
        split: str | Path | None = None,
        classes: list[str] | None = None,
        skip_bad: bool = False,
        allow_outside_root: bool = False,
    ) -> None:
        self.root = Path(root)
        self.images_dir = self.root / images
        self.ann_dir = self.root / annotations
        self.seg_dir = self.root / segmentation
        self.source = str(self.ann_dir)
        self.allow_outside_root = allow_outside_root
        self.skipped = SkipReport()
        if not self.ann_dir.is_dir():
            raise DataError(self.ann_dir, "annotation folder does not exist")

        records: list[_Record] = []
        for xml in self._xml_files(split):
            try:
                records.append(self._read(xml))
            except DataError as err:
                if not skip_bad:
                    raise
                self.skipped.add(err)

        if classes is None:
            names = sorted({n for r in records for n in r.names})
        else:
            names = list(classes[1:] if classes and classes[0] == "background" else classes)
        self.classes = ["background", *names]
        self._label = {n: i + 1 for i, n in enumerate(names)}
        self._records: list[_Record] = []
        for r in records:
            unknown = [n for n in r.names if n not in self._label]
            if unknown:
                err = DataError(r.xml, f"unknown class name {unknown[0]!r} (not in classes)")
                if not skip_bad:
                    raise err
                self.skipped.add(err)
                continue
            self._records.append(r)
        self.image_ids = [r.image_id for r in self._records]
        if self.skipped.count:
            warnings.warn(self.skipped.summary(), stacklevel=2)

    def _xml_files(self, split: str | Path | None) -> list[Path]:
        if split is None:
            return sorted(self.ann_dir.glob("*.xml"))
        candidates = [
            self.root / "ImageSets" / "Main" / f"{split}.txt",
            Path(split),
            self.root / split,
        ]
        list_file = next((p for p in candidates if p.is_file()), None)
        if list_file is None:
            raise DataError(
                candidates[0],
                f"split {str(split)!r} not found (also tried {candidates[1]}, {candidates[2]})",
            )
        files = []
        for image_id, where in _split_ids(list_file):
            xml = resolve_inside(
                self.ann_dir,
                f"{image_id}.xml",
                source=list_file,
                where=where,
                allow_outside=self.allow_outside_root,
            )
            if not xml.is_file():
                raise DataError(list_file, f"names {image_id!r} but {xml} does not exist", where)
            files.append(xml)
        return files

    def _find_image(self, xml: Path, filename: str | None) -> Path:
        if filename:
            path = resolve_inside(
                self.images_dir,
                filename,
                source=xml,
                where="<filename>",
                allow_outside=self.allow_outside_root,
            )
            if path.is_file():
                return path
        for ext in IMAGE_EXTENSIONS:
            path = self.images_dir / f"{xml.stem}{ext}"
            if path.is_file():
                return path
        raise DataError(
            xml,
            f"image file for <filename> {filename!r} not found in "
            f"{self.images_dir} (also tried {xml.stem} with {', '.join(IMAGE_EXTENSIONS[:4])})",
        )

    def _read(self, xml: Path) -> _Record:
        root = parse_xml(xml)
        image = self._find_image(xml, (root.findtext("filename") or "").strip() or None)
        h, w = image_size(image, source=xml)
        size = root.find("size")
        if size is not None:
            sw, sh = _int(size, "width", xml, "<size>"), _int(size, "height", xml, "<size>")
            # Some tools write 0x0 when they did not know the size: only a real size must match.
            if (sw, sh) != (0, 0) and (sw, sh) != (w, h):
                raise DataError(xml, f"<size> says {sw}x{sh} but image {image.name} is {w}x{h}")
        names, boxes, difficult = [], [], []
        for i, obj in enumerate(root.findall("object")):
            where = f"object {i}"
            name = (obj.findtext("name") or "").strip()
            if not name:
                raise DataError(xml, "object has no <name>", where)
            bb = obj.find("bndbox")
            if bb is None:
                raise DataError(xml, "object has no <bndbox>", where)
            x1, y1, x2, y2 = (_float(bb, k, xml, where) for k in ("xmin", "ymin", "xmax", "ymax"))
            written = f"<bndbox> xmin={x1:g} ymin={y1:g} xmax={x2:g} ymax={y2:g}"
            boxes.append(
                check_box([x1 - 1, y1 - 1, x2, y2], h, w, source=xml, where=where, written=written)
            )
            names.append(name)
            difficult.append(_flag(obj.findtext("difficult")))
        seg = self.seg_dir / f"{xml.stem}.png"
        if seg.is_file():
            sh, sw = image_size(seg, source=xml)
            if (sh, sw) != (h, w):
                raise DataError(seg, f"mask is {sw}x{sh} but image {image.name} is {w}x{h}")
        else:
            seg = None
        return _Record(xml.stem, xml, image, h, w, names, boxes, difficult, seg)

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, index: int) -> Sample:
        r = self._records[index]
        image = load_image(r.image, source=r.xml)
        semantic = None
        if r.seg is not None:
            semantic = load_index_png(r.seg, source=r.xml)
            bad = (semantic >= len(self.classes)) & (semantic != IGNORE_INDEX)
            if bad.any():
                raise DataError(
                    r.seg,
                    f"class index {int(semantic[bad][0])} is not below the "
                    f"number of classes {len(self.classes)}",
                )
        n = len(r.names)
        return Sample(
            image=image,
            semantic=semantic,
            boxes=torch.tensor(r.boxes, dtype=torch.float32).reshape(n, 4),
            labels=torch.tensor([self._label[x] for x in r.names], dtype=torch.int64),
            iscrowd=torch.tensor(r.difficult, dtype=torch.bool),
            image_id=r.image_id,
            path=str(r.image),
        )


def _float(parent: ET.Element, tag: str, xml: Path, where: str) -> float:
    text = (parent.findtext(tag) or "").strip()
    try:
        return float(text)
    except ValueError:
        raise DataError(xml, f"<{tag}> must be a number, got {text!r}", where) from None


def _int(parent: ET.Element, tag: str, xml: Path, where: str) -> int:
    value = _float(parent, tag, xml, where)
    if not math.isfinite(value) or value != int(value):
        raise DataError(xml, f"<{tag}> must be an integer, got {value}", where)
    return int(value)


def _split_ids(list_file: Path) -> list[tuple[str, str]]:
    """``(image id, where)`` pairs of a split file: a VOC list (first field per line) or a CSV
    with a ``filename`` column (as the raccoon set's ``data/*_labels.csv``; one row per box, so
    ids are deduplicated in order of first appearance)."""
    text = list_file.read_text(encoding="utf-8")
    if list_file.suffix.lower() != ".csv":
        # Per-class lists ("2008_000008  1") carry a flag after the id: keep the id.
        return [
            (line.split()[0], f"line {n}")
            for n, line in enumerate(text.splitlines(), start=1)
            if line.strip()
        ]
    rows = list(csv.reader(text.splitlines()))
    if not rows or "filename" not in rows[0]:
        raise DataError(list_file, "CSV split file needs a header with a 'filename' column")
    col = rows[0].index("filename")
    seen: dict[str, str] = {}
    for n, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) <= col or not row[col].strip():
            raise DataError(list_file, "row has no filename", f"line {n}")
        seen.setdefault(Path(row[col].strip()).stem, f"line {n}")
    return list(seen.items())


def _flag(text: str | None) -> bool:
    """VOC's ``<difficult>``: ``1`` (some tools write ``true``); ``0``, ``false`` or absent is not."""
    return (text or "0").strip().lower() not in ("0", "", "false", "no")
