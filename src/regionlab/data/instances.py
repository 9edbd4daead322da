"""Instance masks stored as one id-PNG per image (the Penn-Fudan layout).

``images_dir/FudanPed00001.png`` pairs with ``masks_dir/FudanPed00001_mask.png``; in the mask,
0 is background and every other value is one instance (ids may skip numbers).

A VOC ``SegmentationObject`` PNG draws a 255 border around its objects: read as an id, it
would be one more object, a ring around all the others. So in an 8-bit mask, 255 next to
other ids is refused unless ``ignore_index=255`` says those pixels belong to no object; alone
(a black-and-white mask of one object) it is that object, and a 16-bit mask's 255 is an id.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from regionlab.data.errors import DataError, SkipReport
from regionlab.data.io import image_size, load_image, load_index_png, resolve_inside
from regionlab.data.sample import IGNORE_INDEX, Dataset, Sample

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp"}


def boxes_from_masks(masks: torch.Tensor) -> torch.Tensor:
    """``bool (N, H, W)`` -> ``float32 (N, 4)`` ``xyxy`` pixel boxes enclosing each mask.

    ``x2``/``y2`` are one past the last column/row, so a one-pixel mask has width 1.
    Empty masks give ``[0, 0, 0, 0]``.
    """
    boxes = torch.zeros((masks.shape[0], 4), dtype=torch.float32)
    for i, m in enumerate(masks):
        rows = torch.nonzero(m.any(dim=1)).flatten()
        cols = torch.nonzero(m.any(dim=0)).flatten()
        if len(rows):
            boxes[i] = torch.tensor([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1])
    return boxes


@dataclass
class _Pair:
    image: Path
    mask: Path


class InstanceMaskDataset(Dataset):
    """Images in ``images_dir`` with instance-id masks ``masks_dir/<stem><mask_suffix>.png``.

    Items are :class:`Sample` with ``masks`` ``bool (N, H, W)`` (one per instance id present,
    ascending), ``boxes`` ``float32 (N, 4)`` ``xyxy`` pixels enclosing each mask (``x2 = max col
    + 1``), ``labels`` all 1, ``semantic`` ``int64 (H, W)`` = 1 where any instance, else 0.
    ``classes = ["background", class_name]``; ``image_id`` is the image stem.

    ``ignore_index``: an id that is no object (VOC's 255 border): its pixels belong to no
    mask, and ``semantic`` marks them ``IGNORE_INDEX``.

    An image without a mask file, a mask without an image, or a mask whose size (read from the
    headers) differs from its image raises :class:`DataError`, or with ``skip_bad=True`` is
    left out and listed in ``self.skipped``. Pixels are decoded in ``__getitem__``.
    """

    image_files = ("_pairs", "image")

    def __init__(
        self,
        images_dir: str | Path,
        masks_dir: str | Path,
        *,
        class_name: str = "object",
        mask_suffix: str = "_mask",
        skip_bad: bool = False,
        allow_outside_root: bool = False,
        ignore_index: int | None = None,
    ) -> None:
        if ignore_index is not None and (not isinstance(ignore_index, int) or ignore_index < 1):
            raise ValueError(f"ignore_index must be an id >= 1 (0 is background), got "
                             f"{ignore_index!r}")  # fmt: skip
        self.ignore_index = ignore_index
        self.images_dir = Path(images_dir)
        self.masks_dir = Path(masks_dir)
        self.source = str(self.masks_dir)
        self.classes = ["background", class_name]
        self.skipped = SkipReport()
        for d in (self.images_dir, self.masks_dir):
            if not d.is_dir():
                raise DataError(d, "folder does not exist")

        self._pairs: list[_Pair] = []
        files = sorted(p for p in self.images_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        stems: dict[str, Path] = {}
        for file in files:  # a.jpg and a.png would both read a_mask.png
            if file.stem in stems:
                raise DataError(file, f"shares its mask {file.stem}{mask_suffix}.png with "
                                f"{stems[file.stem].name}; keep one")  # fmt: skip
            stems[file.stem] = file
        for file in files:
            try:
                self._pairs.append(self._check(file, mask_suffix, allow_outside_root))
            except DataError as err:
                if not skip_bad:
                    raise
                self.skipped.add(err)
        # A mask whose image is missing would otherwise be ignored without a word.
        stems = {f.stem for f in files}
        for mask in sorted(self.masks_dir.glob(f"*{mask_suffix}.png")):
            if mask.name[: -len(f"{mask_suffix}.png")] not in stems:
                err = DataError(mask, f"no image for this mask in {self.images_dir}")
                if not skip_bad:
                    raise err
                self.skipped.add(err)
        if self.skipped.count:
            warnings.warn(self.skipped.summary(), stacklevel=2)

    def _check(self, file: Path, suffix: str, allow_outside: bool) -> _Pair:
        # The files come from a folder listing, so only a symlink can lead outside the folder.
        image = resolve_inside(self.images_dir, file.name, source=file, allow_outside=allow_outside)
        mask_name = f"{file.stem}{suffix}.png"
        mask = resolve_inside(self.masks_dir, mask_name, source=file, allow_outside=allow_outside)
        if not mask.is_file():
            raise DataError(file, f"mask file {mask_name} does not exist in {self.masks_dir}")
        ih, iw = image_size(image)
        mh, mw = image_size(mask)
        if (ih, iw) != (mh, mw):
            raise DataError(mask, f"mask is {mw}x{mh} but image {file.name} is {iw}x{ih}")
        return _Pair(image, mask)

    def __len__(self) -> int:
        return len(self._pairs)

    def __getitem__(self, index: int) -> Sample:
        p = self._pairs[index]
        image = load_image(p.image)
        ids_map = load_index_png(p.mask)
        ids = [int(i) for i in torch.unique(ids_map) if i not in (0, self.ignore_index)]
        if self.ignore_index is None and 255 in ids and len(ids) > 1 and _eight_bit(p.mask):
            raise DataError(p.mask, f"value 255 next to instance ids {ids[:-1][:8]} in an 8-bit "
                            "mask: if it is VOC's border around the objects, add "
                            "ignore_index=255 (those pixels then belong to no object); a mask "
                            "with 255 real objects must be saved as 16-bit")  # fmt: skip
        semantic = (ids_map != 0).long()
        if self.ignore_index is not None:
            semantic[ids_map == self.ignore_index] = IGNORE_INDEX
        masks = (
            torch.stack([ids_map == i for i in ids])
            if ids
            else torch.zeros((0, *ids_map.shape), dtype=torch.bool)
        )
        return Sample(
            image=image,
            semantic=semantic,
            masks=masks,
            boxes=boxes_from_masks(masks),
            labels=torch.ones((len(ids),), dtype=torch.int64),
            image_id=p.image.stem,
            path=str(p.image),
        )


def _eight_bit(path: Path) -> bool:
    """Whether an index PNG stores 8-bit ids (``L`` or palette ``P``), from its header."""
    from PIL import Image

    with Image.open(path) as img:
        return img.mode in ("L", "P")
