"""Semantic segmentation from a list of ``image annotation`` pairs (the CamVid / SegNet layout).

Each non-empty line of the list file is ``<image path> <class-index PNG path>``, both relative to
the list file's folder, e.g. ``train/0001TP_006690.png trainannot/0001TP_006690.png``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from regionlab.data.checks import read_text
from regionlab.data.errors import DataError, SkipReport
from regionlab.data.io import image_size, load_image, load_index_png, resolve_inside
from regionlab.data.sample import IGNORE_INDEX, Dataset, Sample

# SegNet's CamVid: 11 classes, index 11 is "void" (ignored).
# fmt: off
CAMVID_CLASSES = [
    "sky", "building", "pole", "road", "pavement", "tree",
    "sign", "fence", "car", "pedestrian", "bicyclist",
]
# fmt: on


@dataclass
class _Pair:
    name: str  # the image path as written in the list file
    image: Path
    mask: Path
    where: str  # "line N" of the list file


class MaskFolderDataset(Dataset):
    """Images with class-index PNG masks listed in ``list_file``.

    Items are :class:`Sample` with ``image`` ``uint8 (3, H, W)`` and ``semantic`` ``int64 (H, W)``
    holding class indices ``0..num_classes-1`` or ``IGNORE_INDEX`` (255); no objects (empty
    ``boxes``/``labels``, ``masks=None``). ``classes[0]`` is the first real class (no background
    is added). Give ``classes``, or ``num_classes`` for names ``class0, class1, ...``.

    ``values``: the mask values of the classes, in order, when they are not ``0..num_classes-1``
    (a binary mask saved as black and white: ``values=[0, 255]``). Mask pixels equal to
    ``ignore_index`` are ignored (become 255). Any other value, 255 included, raises
    :class:`DataError` naming the mask and the value: 255 is ignored only when ``ignore_index``
    says so (VOC's border), never silently, since a 0/255 binary mask would otherwise lose its
    whole foreground. That check
    needs the decoded mask, so it happens in ``__getitem__`` and raises there even with
    ``skip_bad=True`` (``skip_bad`` covers what the constructor checks: the list file's lines,
    missing files, paths outside the root and image/mask size mismatches, read from headers).
    ``image_id`` is the image path as written in the list file.
    """

    image_files = ("_pairs", "image")

    def __init__(
        self,
        list_file: str | Path,
        *,
        classes: list[str] | None = None,
        num_classes: int | None = None,
        ignore_index: int | None = None,
        values: list[int] | None = None,
        skip_bad: bool = False,
        allow_outside_root: bool = False,
    ) -> None:
        if classes is None and num_classes is None and values is None:
            raise ValueError("give classes or num_classes")
        if num_classes is None and classes is None:
            num_classes = len(values)
        if classes is not None and num_classes is not None and len(classes) != num_classes:
            raise ValueError(f"num_classes={num_classes} but {len(classes)} class names given")
        self.classes = (
            list(classes) if classes is not None else [f"class{i}" for i in range(num_classes or 0)]
        )
        self.num_classes = len(self.classes)
        self.ignore_index = ignore_index
        self.values = _class_values(values, self.num_classes, ignore_index)
        self.list_file = Path(list_file)
        self.source = str(list_file)
        self.skipped = SkipReport()
        if not self.list_file.is_file():
            raise DataError(self.list_file, "list file does not exist")

        root = self.list_file.parent
        self._pairs: list[_Pair] = []
        lines = read_text(self.list_file).splitlines()
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                self._pairs.append(self._check(root, line, f"line {n}", allow_outside_root))
            except DataError as err:
                if not skip_bad:
                    raise
                self.skipped.add(err)
        if self.skipped.count:
            warnings.warn(self.skipped.summary(), stacklevel=2)
        if not any(line.strip() for line in lines):
            raise DataError(self.list_file, "list file names no samples (it is empty)")

    def _check(self, root: Path, line: str, where: str, allow_outside: bool) -> _Pair:
        fields = line.split()
        if len(fields) != 2:
            raise DataError(
                self.list_file,
                f"expected 2 fields 'image annotation', got {len(fields)}: {line.strip()!r}",
                where,
            )
        image, mask = (
            resolve_inside(root, f, source=self.list_file, where=where, allow_outside=allow_outside)
            for f in fields
        )
        ih, iw = image_size(image, source=self.list_file, where=where)
        mh, mw = image_size(mask, source=self.list_file, where=where)
        if (ih, iw) != (mh, mw):
            raise DataError(mask, f"mask is {mw}x{mh} but image {fields[0]} is {iw}x{ih}", where)
        return _Pair(fields[0], image, mask, where)

    def __len__(self) -> int:
        return len(self._pairs)

    def __getitem__(self, index: int) -> Sample:
        p = self._pairs[index]
        image = load_image(p.image, source=self.list_file, where=p.where)
        raw = load_index_png(p.mask, source=self.list_file, where=p.where)
        ignored = raw == self.ignore_index if self.ignore_index is not None else raw < 0
        if self.values == list(range(self.num_classes)):
            semantic, known = raw.clone(), ignored | ((raw >= 0) & (raw < self.num_classes))
        else:
            semantic, known = torch.full_like(raw, IGNORE_INDEX), ignored.clone()
            for index, value in enumerate(self.values):
                semantic[raw == value] = index
                known |= raw == value
        semantic[ignored] = IGNORE_INDEX
        if not known.all():
            raise DataError(p.mask, self._unknown(raw, known), p.where)
        return Sample(image=image, semantic=semantic, image_id=p.name, path=str(p.image))

    def _unknown(self, raw, known) -> str:
        value = int(raw[~known][0])
        found = sorted(int(v) for v in raw.unique()[:8])
        if self.values == list(range(self.num_classes)):
            problem = f"class index {value} is not in 0..{self.num_classes - 1}"
        else:
            problem = f"value {value} is none of the classes' values {self.values}"
        problem += f" (ignore_index={self.ignore_index}; values in this mask: {found})"
        if value == 255 and self.ignore_index is None:
            problem += (
                "; if 255 marks pixels to ignore (VOC's border), add ignore_index=255; "
                "a binary mask saved as 0/255 needs values=0|255"
            )
        return problem


def _class_values(values, num_classes: int, ignore_index: int | None) -> list[int]:
    if values is None:
        return list(range(num_classes))
    if not isinstance(values, list | tuple):
        values = [values]
    if not all(isinstance(v, int | str) and str(v).isdigit() for v in values):
        raise ValueError(
            f"values must be whole numbers, one per class (e.g. 0|255), got {values!r}"
        )
    values = [int(v) for v in values]
    if len(values) != num_classes:
        raise ValueError(f"{len(values)} values {values} for {num_classes} classes")
    if len(set(values)) != len(values) or ignore_index in values:
        raise ValueError(f"values {values} repeat a value (or name ignore_index={ignore_index})")
    return values


def camvid(list_file: str | Path, **kwargs) -> MaskFolderDataset:
    """SegNet's CamVid (``train.txt``/``val.txt``): 11 :data:`CAMVID_CLASSES`, index 11 ignored."""
    return MaskFolderDataset(list_file, classes=CAMVID_CLASSES, ignore_index=11, **kwargs)
