"""Leeds Sports Pose (LSP) and LSP-extended (LSPET): one person per image, 14 joints.

Layout (names configurable)::

    root/images/im00001.jpg ...   LSPET (5 digits); LSP uses 4 digits: im0001.jpg ...
    root/joints.mat               variable ``joints``: (14, 3, N) LSPET or (3, 14, N) LSP

Image ``i`` (0-based) is ``im{i + 1}.jpg`` and the layout is told apart by the shape. Both store
``x, y`` in pixels and a visibility flag, with opposite meanings. They become COCO ``v`` flags:

==========================  =========================  ======================
file                        flag                       ``v``
==========================  =========================  ======================
LSPET (14, 3, N)            1 = visible                2 (visible)
LSPET (14, 3, N)            0 = not visible            1 (occluded)
LSP (3, 14, N)              0 = visible                2 (visible)
LSP (3, 14, N)              1 = occluded               1 (occluded; LSP gives
                                                       an estimated position)
either                      no usable position         0 (unlabelled)
==========================  =========================  ======================

"No usable position" is ``x <= 0 and y <= 0``: that is how joints.mat marks a joint nobody
placed (in the 400-image LSPET copy checked, all 734 flag-0 joints have one coordinate 0 and the
other 0 or negative, so none is "occluded"). Such joints become ``(0, 0, 0)``, COCO's unlabelled
row. Other coordinates are kept as stored
(MATLAB clicks, so in effect 1-based; the half-pixel offset is below annotation noise), even
slightly outside the image. A flag other than 0/1 or a non-finite value is a :class:`DataError`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from regionlab.data.errors import DataError, SkipReport
from regionlab.data.io import image_size, load_image
from regionlab.data.matlab import read_mat
from regionlab.data.sample import Dataset, Sample

LSP_JOINTS = (
    "right ankle", "right knee", "right hip", "left hip", "left knee", "left ankle",
    "right wrist", "right elbow", "right shoulder", "left shoulder", "left elbow", "left wrist",
    "neck", "head top",
)  # fmt: skip
# Joint pairs to draw: legs, hips, arms, shoulders to neck, neck to head, torso sides.
LSP_SKELETON = (
    (0, 1), (1, 2), (5, 4), (4, 3), (2, 3),
    (6, 7), (7, 8), (11, 10), (10, 9), (8, 12), (9, 12), (12, 13),
    (2, 8), (3, 9),
)  # fmt: skip
# Joint order after a left-right flip (the permutation :func:`~regionlab.data.transforms.hflip`
# leaves to the caller).
LSP_FLIP = (5, 4, 3, 2, 1, 0, 11, 10, 9, 8, 7, 6, 12, 13)
NUM_JOINTS = len(LSP_JOINTS)


@dataclass
class _Record:
    index: int
    image: Path
    keypoints: np.ndarray  # (14, 3) float32
    box: list[float]


class LspDataset(Dataset):
    """LSP / LSPET with one ``person`` per image (label 1, ``classes = ["background", "person"]``).

    Items are :class:`Sample` with ``keypoints`` ``float32 (1, 14, 3)`` in :data:`LSP_JOINTS`
    order (``v`` as in the module docstring) and one ``box``: the extent of the labelled joints
    (``v > 0``) grown by ``margin`` of its width/height on each side (at least 1 pixel), clipped
    to the image. ``image_id`` is the image's stem (``"im00001"``).

    ``split``: ``None`` (all), a ``(start, stop)`` pair or ``slice`` (Python slice rules, either
    end may be ``None``), or a list of sample indices. joints.mat is read and validated and
    every selected image's header read here; pixels are decoded in ``__getitem__``. Problems
    with one sample (non-finite coordinates, a bad flag, no labelled joint, a missing image)
    raise :class:`DataError` naming the file and ``sample i[, joint k]``; with ``skip_bad=True``
    those samples are left out and listed in ``self.skipped``. A 2-D ``joints`` of shape
    (14, 3) or (3, 14) is one sample (MATLAB drops a trailing dimension of size 1).
    """

    image_files = ("_records", "image")

    classes = ["background", "person"]
    num_keypoints = NUM_JOINTS
    keypoint_names = list(LSP_JOINTS)
    skeleton = [list(p) for p in LSP_SKELETON]

    def __init__(
        self,
        root: str | Path,
        split: tuple[int | None, int | None] | slice | Sequence[int] | None = None,
        *,
        joints: str = "joints.mat",
        images: str = "images",
        skip_bad: bool = False,
        margin: float = 0.15,
    ) -> None:
        self.root = Path(root)
        self.joints_path = self.root / joints
        self.images_dir = self.root / images
        self.source = str(self.joints_path)
        self.margin = float(margin)
        if not self.margin >= 0:
            raise ValueError(f"margin must be >= 0, got {margin}")
        self.skipped = SkipReport()
        if not self.images_dir.is_dir():
            raise DataError(self.images_dir, "image folder does not exist")
        table = read_mat(self.joints_path, ["joints"])["joints"]
        self.layout, self._joints = self._layout(table)
        n = len(self._joints)
        self._digits = self._image_digits(n)
        self._records: list[_Record] = []
        for i in self._indices(split, n):
            try:
                self._records.append(self._read(i))
            except DataError as err:
                if not skip_bad:
                    raise
                self.skipped.add(err)
        self.image_ids = [r.image.stem for r in self._records]
        if self.skipped.count:
            warnings.warn(self.skipped.summary(), stacklevel=2)

    def _layout(self, table: np.ndarray) -> tuple[str, np.ndarray]:
        """``("lspet" | "lsp", float64 (N, 14, 3))`` with columns ``x, y, flag``."""
        if table.ndim == 2:
            table = table[:, :, None]
        if table.ndim == 3 and table.shape[:2] == (NUM_JOINTS, 3):
            return "lspet", table.transpose(2, 0, 1).astype(np.float64)
        if table.ndim == 3 and table.shape[:2] == (3, NUM_JOINTS):
            return "lsp", table.transpose(2, 1, 0).astype(np.float64)
        raise DataError(
            self.joints_path,
            f"'joints' must be (14, 3, N) (LSPET) or (3, 14, N) (LSP), got {table.shape}",
        )

    def _image_digits(self, n: int) -> int:
        """4 (LSP's ``im0001.jpg``) or 5 (LSPET's ``im00001.jpg``), from the files present."""
        found = [
            p.name for p in self.images_dir.iterdir() if re.fullmatch(r"im\d{4,5}\.jpg", p.name)
        ]
        digits = {len(name) - 6 for name in found}
        if len(digits) != 1:
            problem = (
                "mixes im0001.jpg and im00001.jpg names"
                if digits
                else "has no im0001.jpg or im00001.jpg images"
            )
            raise DataError(self.images_dir, problem)
        if len(found) > n:
            raise DataError(
                self.joints_path,
                f"holds {n} sample(s) but {self.images_dir} has {len(found)} images; "
                "joints and images must match one to one",
            )
        return digits.pop()

    def _indices(self, split, n: int) -> list[int]:
        if split is None:
            return list(range(n))
        if isinstance(split, tuple) and len(split) == 2:
            split = slice(*split)
        if isinstance(split, slice):
            return list(range(n)[split])
        if isinstance(split, (str, bytes)) or not all(
            isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in split
        ):
            raise TypeError(
                f"split must be None, (start, stop), a slice or a list of ints, got {split!r}"
            )
        bad = [int(i) for i in split if not 0 <= i < n]
        if bad:
            raise DataError(
                self.joints_path, f"split index {bad[0]} is outside 0..{n - 1}", "split"
            )
        return [int(i) for i in split]

    def _read(self, i: int) -> _Record:
        image = self.images_dir / f"im{i + 1:0{self._digits}d}.jpg"
        h, w = image_size(image, source=self.joints_path, where=f"sample {i}")
        xyf = self._joints[i]
        for k in range(NUM_JOINTS):
            where = f"sample {i}, joint {k} ({LSP_JOINTS[k]})"
            if not np.isfinite(xyf[k]).all():
                raise DataError(self.joints_path, f"non-finite value in {xyf[k].tolist()}", where)
            if xyf[k, 2] not in (0, 1):
                raise DataError(
                    self.joints_path, f"visibility flag must be 0 or 1, got {xyf[k, 2]:g}", where
                )
        visible = xyf[:, 2] == (1 if self.layout == "lspet" else 0)
        placed = (xyf[:, 0] > 0) | (xyf[:, 1] > 0)
        v = np.where(placed, np.where(visible, 2, 1), 0)
        kps = np.zeros((NUM_JOINTS, 3), dtype=np.float32)
        kps[placed, :2] = xyf[placed, :2]
        kps[:, 2] = v
        if not placed.any():
            raise DataError(self.joints_path, "no joint has a position", f"sample {i}")
        return _Record(i, image, kps, self._box(kps[placed, :2].astype(np.float64), h, w, i))

    def _box(self, xy: np.ndarray, h: int, w: int, i: int) -> list[float]:
        (x1, y1), (x2, y2) = xy.min(0), xy.max(0)
        px, py = max(self.margin * (x2 - x1), 1.0), max(self.margin * (y2 - y1), 1.0)
        box = [max(x1 - px, 0.0), max(y1 - py, 0.0), min(x2 + px, float(w)), min(y2 + py, float(h))]
        if box[2] <= box[0] or box[3] <= box[1]:
            raise DataError(
                self.joints_path,
                f"the labelled joints lie outside the {w}x{h} image",
                f"sample {i}",
            )
        return [float(c) for c in box]

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, index: int) -> Sample:
        r = self._records[index]
        return Sample(
            image=load_image(r.image, source=self.joints_path, where=f"sample {r.index}"),
            boxes=torch.tensor([r.box], dtype=torch.float32),
            labels=torch.ones((1,), dtype=torch.int64),
            keypoints=torch.from_numpy(r.keypoints.copy())[None],
            image_id=r.image.stem,
            path=str(r.image),
        )
