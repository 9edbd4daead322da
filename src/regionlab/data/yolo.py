"""YOLO text labels: ``root/images/**/<name>.jpg`` with ``root/labels/**/<name>.txt``.

Each label line is ``class cx cy w h``: a 0-based class id and a box centre and size normalised
by the image width/height to ``0..1``.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from regionlab.data.checks import check_box
from regionlab.data.errors import DataError, SkipReport
from regionlab.data.io import image_size, load_image, resolve_inside
from regionlab.data.sample import Dataset, Sample

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp"}
# Normalised values may stray this far outside 0..1 (float rounding in exporters).
COORD_TOLERANCE = 1e-3


def read_class_names(root: str | Path) -> list[str] | None:
    """Class names from ``root/classes.txt`` (one per line) or ``names:`` in ``root/data.yaml``.

    ``data.yaml`` is read without a YAML library, so only the simple forms are understood:
    ``names: [a, b]`` on one line, or a block of ``  0: a`` (or ``  - a``) lines under ``names:``.
    Returns ``None`` when neither file gives names; warns if ``data.yaml`` has a ``names:`` key
    in another form.
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
    lines = data_yaml.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"names\s*:\s*(.*)$", line)
        if not m:
            continue
        value = m.group(1).split(" #")[0].strip()
        if value.startswith("[") and value.endswith("]"):
            return [_unquote(s) for s in value[1:-1].split(",") if s.strip()]
        if not value:
            names = _names_block(lines[i + 1 :])
            if names:
                return names
        warnings.warn(
            f"{data_yaml}: 'names:' is not in a simple form this reader understands; "
            "using class0, class1, ...",
            stacklevel=3,
        )
        return None
    return None


def _names_block(lines: list[str]) -> list[str]:
    """``  0: a`` / ``  - a`` lines (indented) following ``names:``, in id order."""
    by_id: dict[int, str] = {}
    items: list[str] = []
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():  # block ended at the next top-level key
            break
        m = re.match(r"\s+(\d+)\s*:\s*(.+)$", line)
        if m:
            by_id[int(m.group(1))] = _unquote(m.group(2))
            continue
        m = re.match(r"\s+-\s*(.+)$", line)
        if m:
            items.append(_unquote(m.group(1)))
            continue
        return []
    if by_id and sorted(by_id) == list(range(len(by_id))):
        return [by_id[i] for i in range(len(by_id))]
    return items if not by_id else []


def _unquote(s: str) -> str:
    s = s.split(" #")[0].strip()
    return s[1:-1] if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"" else s


@dataclass
class _Record:
    image_id: str
    image: Path
    label_file: Path | None
    boxes: list[list[float]]
    labels: list[int]  # YOLO class ids (0-based)
    lines: list[int]  # label-file line of each box, for error messages


class YoloDataset(Dataset):
    """YOLO detection: images under ``root/images``, label files under ``root/labels``.

    Items are :class:`Sample` with ``boxes`` ``float32 (N, 4)`` ``xyxy`` pixels (from normalised
    ``cx cy w h``) and ``labels`` ``int64 (N,)`` = YOLO class + 1, indexing
    ``classes = ["background", *names]``. Names come from ``classes``, else
    ``root/classes.txt``, else ``names:`` in ``root/data.yaml`` (see :func:`read_class_names`),
    else ``class0, class1, ...`` up to the largest id used. ``image_id`` is the image path
    relative to ``images`` without extension (e.g. ``"train/0001"``).

    An image without a label file has no objects (this is how YOLO marks negatives; not an
    error); a label file without an image is an error. Label lines with a wrong field count, non-numbers, values outside ``0..1`` (beyond
    1e-3), non-positive size or a class id ``>=`` the number of classes raise
    :class:`DataError` naming the label file and line; with ``skip_bad=True`` such images are left
    out and listed in ``self.skipped``.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        images: str = "images",
        labels: str = "labels",
        classes: list[str] | None = None,
        skip_bad: bool = False,
        allow_outside_root: bool = False,
    ) -> None:
        self.root = Path(root)
        self.images_dir = self.root / images
        self.labels_dir = self.root / labels
        self.source = str(self.labels_dir)
        self.skipped = SkipReport()
        for d, what in ((self.images_dir, "image"), (self.labels_dir, "label")):
            # A mistyped label folder would otherwise turn every image into a negative.
            if not d.is_dir():
                raise DataError(d, f"{what} folder does not exist")
        names = list(classes) if classes is not None else read_class_names(self.root)
        if names and names[0] == "background" and classes is not None:
            names = names[1:]  # accept a list that already starts with background

        records: list[_Record] = []
        files = sorted(
            p for p in self.images_dir.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS
        )
        for file in files:
            try:
                records.append(self._read(file, allow_outside_root))
            except DataError as err:
                if not skip_bad:
                    raise
                self.skipped.add(err)
        # A label file whose image is missing would otherwise be ignored without a word.
        stems = {f.relative_to(self.images_dir).with_suffix("") for f in files}
        for label_file in sorted(self.labels_dir.rglob("*.txt")):
            # LabelImg keeps its classes.txt among the labels: that one is not a label file.
            orphan = label_file.relative_to(self.labels_dir).with_suffix("") not in stems
            if orphan and label_file.name != "classes.txt":
                err = DataError(label_file, f"no image for this label file in {self.images_dir}")
                if not skip_bad:
                    raise err
                self.skipped.add(err)

        if names is None:
            top = max((c for r in records for c in r.labels), default=-1)
            names = [f"class{i}" for i in range(top + 1)]
        self.classes = ["background", *names]
        self._records = []
        for r in records:
            bad = [(c, n) for c, n in zip(r.labels, r.lines, strict=True) if c >= len(names)]
            if bad:
                err = DataError(
                    r.label_file,
                    f"class id {bad[0][0]} is not below the number of classes {len(names)}",
                    f"line {bad[0][1]}",
                )
                if not skip_bad:
                    raise err
                self.skipped.add(err)
                continue
            self._records.append(r)
        if self.skipped.count:
            warnings.warn(self.skipped.summary(), stacklevel=2)

    def _read(self, file: Path, allow_outside: bool) -> _Record:
        rel = file.relative_to(self.images_dir)
        image_id = rel.with_suffix("").as_posix()
        # Listed from a folder, so only a symlink can lead outside the dataset root.
        image = resolve_inside(self.images_dir, str(rel), source=file, allow_outside=allow_outside)
        label_file = resolve_inside(
            self.labels_dir, str(rel.with_suffix(".txt")), source=file, allow_outside=allow_outside
        )
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
