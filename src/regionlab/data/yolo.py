"""YOLO text labels: ``root/images/**/<name>.jpg`` with ``root/labels/**/<name>.txt``, or the
splits an Ultralytics ``data.yaml`` lists (:mod:`regionlab.data.yolo_yaml`).

Each label line is ``class cx cy w h``: a 0-based class id and a box centre and size normalised
by the image width/height to ``0..1``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from regionlab.data.checks import check_box
from regionlab.data.errors import DataError, SkipReport
from regionlab.data.io import image_size, load_image, resolve_inside
from regionlab.data.sample import Dataset, Sample
from regionlab.data.yolo_yaml import (
    IMAGE_EXTENSIONS,
    is_yaml,
    label_path,
    load_yaml,
    parse_names,
    read_data_yaml,
    split_images,
)

# Normalised values may stray this far outside 0..1 (float rounding in exporters).
COORD_TOLERANCE = 1e-3


def read_class_names(root: str | Path) -> list[str] | None:
    """Class names from ``root/classes.txt`` (one per line) or ``names:``/``nc:`` in
    ``root/data.yaml`` (read as YAML, see :func:`~regionlab.data.yolo_yaml.parse_names`).

    Returns ``None`` when neither file gives names; warns (and returns ``None``) if
    ``data.yaml``'s ``names`` is neither a list nor an ``{index: name}`` mapping. A malformed
    ``data.yaml`` raises :class:`DataError`.
    """
    root = Path(root)
    classes_txt = root / "classes.txt"
    if classes_txt.is_file():
        return [
            s.strip() for s in classes_txt.read_text(encoding="utf-8").splitlines() if s.strip()
        ]
    data_yaml = root / "data.yaml"
    if not data_yaml.is_file():
        return None
    data = load_yaml(data_yaml)
    if data.get("names") is None and data.get("nc") is None:
        return None
    try:
        return parse_names(data.get("names"), data.get("nc"), data_yaml)
    except DataError as err:
        warnings.warn(
            f"{err}; 'names:' is not in a simple form this reader understands (a list, or a "
            "mapping of 0..n-1 to names); using class0, class1, ...",
            stacklevel=3,
        )
        return None


@dataclass
class _Entry:
    """One image to read: its file, its label file, its id, and the folders each must stay in."""

    image: Path
    label: Path
    image_id: str
    image_base: Path
    label_base: Path


@dataclass
class _Record:
    image_id: str
    image: Path
    label_file: Path | None
    boxes: list[list[float]]
    labels: list[int]  # YOLO class ids (0-based)
    lines: list[int]  # label-file line of each box, for error messages


class YoloDataset(Dataset):
    """YOLO detection from a folder (``root/images``, ``root/labels``) or an Ultralytics
    ``data.yaml`` (``root`` ends in ``.yaml``/``.yml``; its ``split``: ``train`` (default),
    ``val`` or ``test``; see :mod:`regionlab.data.yolo_yaml`).

    Items are :class:`Sample` with ``boxes`` ``float32 (N, 4)`` ``xyxy`` pixels (from normalised
    ``cx cy w h``, in the image as displayed: EXIF orientation applied) and ``labels``
    ``int64 (N,)`` = YOLO class + 1, indexing ``classes = ["background", *names]``. Names come
    from ``classes``, else the yaml's ``names``/``nc``, else (a folder) ``root/classes.txt``,
    else ``names:`` in ``root/data.yaml`` (see :func:`read_class_names`), else
    ``class0, class1, ...`` up to the largest id used. ``image_id`` is the image path relative to
    ``images`` (a folder) or to the yaml's dataset root, without extension (e.g. ``"train/0001"``).

    An image without a label file has no objects (this is how YOLO marks negatives; not an
    error); a label file in a scanned label folder without its image is an error. Label lines with
    a wrong field count, non-numbers, values outside ``0..1`` (beyond 1e-3), non-positive size or
    a class id ``>=`` the number of classes raise :class:`DataError` naming the label file and
    line; with ``skip_bad=True`` such images are left out and listed in ``self.skipped``.
    """

    image_files = ("_records", "image")

    def __init__(
        self,
        root: str | Path,
        *,
        images: str = "images",
        labels: str = "labels",
        classes: list[str] | None = None,
        split: str | None = None,
        skip_bad: bool = False,
        allow_outside_root: bool = False,
    ) -> None:
        self.root = Path(root)
        self.skipped = SkipReport()
        #: the data.yaml split read (``None`` for a folder, which has no splits)
        self.split = (split or "train") if is_yaml(self.root) else split
        if is_yaml(self.root):
            entries, orphans, names = self._from_yaml(self.split, allow_outside_root)
        else:
            if split is not None:
                raise DataError(
                    self.root, f"split={split!r} needs an Ultralytics data.yaml, not a folder"
                )
            entries, orphans, names = self._from_folder(images, labels)
        if classes is not None:
            names = list(classes)
            if names and names[0] == "background":
                names = names[1:]  # accept a list that already starts with background

        records: list[_Record] = []
        for entry in entries:
            try:
                records.append(self._read(entry, allow_outside_root))
            except DataError as err:
                self._bad(err, skip_bad)
        for err in orphans:
            self._bad(err, skip_bad)
        if names is None:
            top = max((c for r in records for c in r.labels), default=-1)
            names = [f"class{i}" for i in range(top + 1)]
        self.classes = ["background", *names]
        self._records = [r for r in records if self._known_classes(r, len(names), skip_bad)]
        if self.skipped.count:
            warnings.warn(self.skipped.summary(), stacklevel=2)

    def _bad(self, err: DataError, skip_bad: bool) -> None:
        if not skip_bad:
            raise err
        self.skipped.add(err)

    def _known_classes(self, r: _Record, n: int, skip_bad: bool) -> bool:
        bad = [(c, line) for c, line in zip(r.labels, r.lines, strict=True) if c >= n]
        if bad:
            problem = f"class id {bad[0][0]} is not below the number of classes {n}"
            self._bad(DataError(r.label_file, problem, f"line {bad[0][1]}"), skip_bad)
        return not bad

    def _from_folder(self, images: str, labels: str):
        self.images_dir = self.root / images
        self.labels_dir = self.root / labels
        self.source = str(self.labels_dir)
        for d, what in ((self.images_dir, "image"), (self.labels_dir, "label")):
            # A mistyped label folder would otherwise turn every image into a negative.
            if not d.is_dir():
                hint = ""
                if (self.root / "data.yaml").is_file():
                    hint = (
                        f"; {self.root / 'data.yaml'} may list the splits: give that file instead"
                    )
                raise DataError(d, f"{what} folder does not exist{hint}")
        files = sorted(
            p for p in self.images_dir.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS
        )
        entries = []
        for f in files:
            rel = f.relative_to(self.images_dir)
            entries.append(_Entry(rel, rel.with_suffix(".txt"), rel.with_suffix("").as_posix(),
                                  self.images_dir, self.labels_dir))  # fmt: skip
        orphans = _orphans(self.labels_dir, self.images_dir, files)
        return entries, orphans, read_class_names(self.root)

    def _from_yaml(self, split: str, allow_outside: bool):
        cfg = read_data_yaml(self.root)
        self.source = str(self.root)
        self.images_dir = self.labels_dir = cfg.root
        found = split_images(cfg, split, allow_outside=allow_outside)
        entries = []
        for image in found.images:
            try:
                image_id = image.relative_to(cfg.root).with_suffix("").as_posix()
            except ValueError:  # listed from outside the root (allowed): the full path names it
                image_id = image.with_suffix("").as_posix()
            entries.append(_Entry(image, label_path(image), image_id, cfg.root, cfg.root))
        orphans = []
        for folder in found.folders:
            labels_dir = label_path(folder / "x.jpg").parent
            if labels_dir == folder:
                continue  # labels beside the images: no label folder of their own
            if not labels_dir.is_dir():
                where = f"{split}: {folder}"
                raise DataError(cfg.file, f"label folder {labels_dir} does not exist", where)
            orphans += _orphans(labels_dir, folder, found.images)
        return entries, orphans, cfg.names

    def _read(self, entry: _Entry, allow_outside: bool) -> _Record:
        # From a folder only a symlink can lead outside the dataset root; a list file can name
        # any path, which was checked when it was read.
        image = resolve_inside(entry.image_base, str(entry.image),
                               source=entry.image_base / entry.image,
                               allow_outside=allow_outside)  # fmt: skip
        label_file = resolve_inside(entry.label_base, str(entry.label), source=image,
                                    allow_outside=allow_outside)  # fmt: skip
        image_id = entry.image_id
        if not label_file.is_file():
            return _Record(image_id, image, None, [], [], [])
        h, w = image_size(image, source=label_file)
        tol = max(1.0, COORD_TOLERANCE * max(h, w))
        boxes, labels, lines = [], [], []
        try:
            text = label_file.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise DataError(label_file, f"not valid UTF-8 ({e.reason} at byte {e.start})") from e
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            where = f"line {n}"
            fields = line.split()
            if len(fields) != 5:
                raise DataError(
                    label_file, f"expected 5 fields 'class cx cy w h', got {len(fields)}", where
                )
            try:
                cls = int(fields[0])
                cx, cy, bw, bh = (float(f) for f in fields[1:])
            except ValueError:
                raise DataError(label_file, f"not a number in {line.strip()!r}", where) from None
            if cls < 0:
                raise DataError(label_file, f"class id {cls} is negative", where)
            values = (cx, cy, bw, bh)
            if not all(math.isfinite(v) for v in values):
                raise DataError(label_file, f"non-finite value in {line.strip()!r}", where)
            if bw <= 0 or bh <= 0:
                raise DataError(
                    label_file, f"box has non-positive width or height ({bw:g}, {bh:g})", where
                )
            if not all(-COORD_TOLERANCE <= v <= 1 + COORD_TOLERANCE for v in values):
                raise DataError(label_file, f"coordinates {values} outside 0..1", where)
            box = [(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h]
            written = f"box {line.strip()!r} (class cx cy w h)"
            boxes.append(
                check_box(box, h, w, source=label_file, where=where, tol=tol, written=written)
            )
            labels.append(cls)
            lines.append(n)
        return _Record(image_id, image, label_file, boxes, labels, lines)

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, index: int) -> Sample:
        r = self._records[index]
        image = load_image(r.image, source=r.label_file)
        n = len(r.labels)
        return Sample(
            image=image,
            boxes=torch.tensor(r.boxes, dtype=torch.float32).reshape(n, 4),
            labels=torch.tensor(r.labels, dtype=torch.int64) + 1,
            image_id=r.image_id,
            path=str(r.image),
        )


def _orphans(labels_dir: Path, images_dir: Path, images: list[Path]) -> list[DataError]:
    """Label files under ``labels_dir`` whose image is not under ``images_dir`` (a label file
    whose image is missing would otherwise be ignored without a word)."""
    stems = set()
    for f in images:
        try:
            stems.add(f.relative_to(images_dir).with_suffix(""))
        except ValueError:
            continue
    out = []
    for label_file in sorted(labels_dir.rglob("*.txt")):
        # LabelImg keeps its classes.txt among the labels: that one is not a label file.
        orphan = label_file.relative_to(labels_dir).with_suffix("") not in stems
        if orphan and label_file.name != "classes.txt":
            out.append(DataError(label_file, f"no image for this label file in {images_dir}"))
    return out
