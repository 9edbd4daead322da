"""YOLO text labels: ``root/images/**/<name>.jpg`` with ``root/labels/**/<name>.txt``, or the
splits an Ultralytics ``data.yaml`` lists (:mod:`regionlab.data.yolo_yaml`).

Each label line is ``class cx cy w h``: a 0-based class id and a box centre and size normalised
by the image width/height to ``0..1``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from regionlab.data.checks import read_text
from regionlab.data.coco_segm import decode_segm
from regionlab.data.coco_segm import semantic as semantic_map
from regionlab.data.errors import DataError, SkipReport
from regionlab.data.io import image_size, load_image, resolve_inside
from regionlab.data.sample import Dataset, Sample
from regionlab.data.yolo_labels import COORD_TOLERANCE, read_label_file  # noqa: F401 - public name
from regionlab.data.yolo_yaml import (
    IMAGE_EXTENSIONS,
    is_yaml,
    label_path,
    load_yaml,
    parse_names,
    read_data_yaml,
    split_images,
)


def read_class_names(root: str | Path, labels: str | Path | None = None) -> list[str] | None:
    """Class names from ``root/classes.txt`` (one per line), else ``labels/classes.txt`` (where
    LabelImg writes it, among the label files), else ``names:``/``nc:`` in ``root/data.yaml``
    (read as YAML, see :func:`~regionlab.data.yolo_yaml.parse_names`).

    Returns ``None`` when neither file gives names; warns (and returns ``None``) if
    ``data.yaml``'s ``names`` is neither a list nor an ``{index: name}`` mapping. A malformed
    ``data.yaml`` raises :class:`DataError`.
    """
    root = Path(root)
    for classes_txt in (root / "classes.txt", Path(labels or root) / "classes.txt"):
        if classes_txt.is_file():
            return [line.strip() for line in read_text(classes_txt).splitlines() if line.strip()]
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
    polygons: list[list[float] | None]  # flat x, y pixels; None for a box line


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
    Segmentation labels (``class x1 y1 x2 y2 x3 y3 ...``, Ultralytics' ``-seg`` format; see
    :mod:`regionlab.data.yolo_labels`) give each object its polygon's extent as the box and, when
    every object of the set has a polygon (``has_masks``), ``masks`` ``bool (N, H, W)`` rasterised
    as COCO polygons are and ``semantic`` ``int64 (H, W)`` (later objects over earlier ones).

    An image without a label file has no objects (this is how YOLO marks negatives; not an
    error); a label file in a scanned label folder without its image is an error. Label lines with
    a wrong field count (an odd number of polygon coordinates), non-numbers, values outside
    ``0..1`` (beyond 1e-3), non-positive size or
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

        _some_labels(entries, self.source)
        _one_image_per_label(entries)
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
        self.has_masks = _has_masks(self._records, self.source)
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
        return entries, orphans, read_class_names(self.root, self.labels_dir)

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
        if label_file.is_dir():
            raise DataError(label_file, "is a folder, not a label file")
        if not label_file.is_file():
            return _Record(image_id, image, None, [], [], [], [])
        h, w = image_size(image, source=label_file)
        objs = read_label_file(label_file, h, w)
        return _Record(image_id, image, label_file, [o.box for o in objs], [o.cls for o in objs],
                       [o.line for o in objs], [o.polygon for o in objs])  # fmt: skip

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, index: int) -> Sample:
        r = self._records[index]
        image = load_image(r.image, source=r.label_file)
        n = len(r.labels)
        labels = torch.tensor(r.labels, dtype=torch.int64) + 1
        masks = semantic = None
        if self.has_masks:
            h, w = image.shape[1:]
            masks = torch.zeros((n, h, w), dtype=torch.bool)
            for i, (poly, line) in enumerate(zip(r.polygons, r.lines, strict=True)):
                m = decode_segm([poly], h, w, source=r.label_file, where=f"line {line}")
                masks[i] = torch.from_numpy(m)
            semantic = semantic_map(masks, labels, torch.zeros(n, dtype=torch.bool))
        return Sample(
            image=image,
            semantic=semantic,
            masks=masks,
            boxes=torch.tensor(r.boxes, dtype=torch.float32).reshape(n, 4),
            labels=labels,
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


def _some_labels(entries: list[_Entry], source: str) -> None:
    """An image without a label file is a negative, but a set with no label file at all has
    its labels where this reader did not look: that is an error, not a set of negatives."""
    if entries and not any((e.label_base / e.label).exists() for e in entries):
        first = entries[0]
        raise DataError(
            source,
            f"none of the {len(entries)} images has a label file (the first, "
            f"{first.image_base / first.image}, would have {first.label_base / first.label}); "
            "YOLO keeps labels in a 'labels' folder beside 'images', same names, .txt",
        )


def _one_image_per_label(entries: list[_Entry]) -> None:
    """``a.jpg`` and ``a.png`` side by side would both read ``a.txt``, and one of them is not
    what it describes."""
    seen: dict[Path, Path] = {}
    for e in entries:
        label, image = e.label_base / e.label, e.image_base / e.image
        if seen.setdefault(label, image) != image:
            raise DataError(label, f"two images share this label file: {seen[label]} and "
                            f"{image}; keep one (or give them other names)")  # fmt: skip


def _has_masks(records: list[_Record], source: str) -> bool:
    """Whether every object has a polygon (Ultralytics' segmentation labels). A set mixing
    polygons with box-only lines gives boxes alone, and says so."""
    polys = [p is not None for r in records for p in r.polygons]
    if any(polys) and not all(polys):
        warnings.warn(
            f"{source}: {sum(polys)} of {len(polys)} objects have polygons and the rest only "
            "boxes; masks are left out and every object is read as its box",
            stacklevel=3,
        )
    return bool(polys) and all(polys)
