"""Reading images and mask PNGs safely: every failure becomes a :class:`DataError` naming the file."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from regionlab.data.errors import DataError

# Pillow's own bomb guard warns at ~89 Mpx and errors at twice that; we refuse anything above this
# before decoding a single pixel, so a header claiming a huge size cannot exhaust memory.
MAX_PIXELS = 64_000_000
# EXIF orientations 5..8 turn the picture by a quarter: its displayed width is the stored height.
_QUARTER_TURNS = {5, 6, 7, 8}


def resolve_inside(
    root: str | Path, name: str, *, source: str | Path, where: str = "", allow_outside: bool = False
) -> Path:
    """Join ``name`` to ``root`` and refuse a result that escapes ``root`` (``../../etc/passwd``).

    ``source`` is the annotation file that named ``name`` and is what the error points at.
    """
    root = Path(root).resolve()
    path = (root / name).resolve()
    if not allow_outside and root != path and root not in path.parents:
        raise DataError(
            source,
            f"file name {name!r} points outside the dataset root {root} (a symlink or '..'); "
            "if that is intended, add allow_outside_root=true to the data spec's options "
            "(allow_outside_root=True in Python)",
            where,
        )
    return path


def _open(path: Path, source: str | Path | None, where: str) -> tuple[Image.Image, int]:
    """The decoded image, and its EXIF orientation as the header gives it (:func:`_orientation`)."""
    src = source if source is not None else path
    if not path.is_file():
        raise DataError(src, f"image file {path} does not exist", where)
    if path.stat().st_size == 0:
        raise DataError(path, "file is empty (0 bytes)", where)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise DataError(
                    path,
                    f"image claims {w}x{h} pixels, above the limit of "
                    f"{MAX_PIXELS} (possible decompression bomb)",
                    where,
                )
            orientation = _orientation(img)
            img.load()
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DataError(path, f"refused as a possible decompression bomb: {e}", where) from e
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(path, f"cannot decode image: {e}", where) from e
    return img, orientation


def load_image(
    path: str | Path, *, source: str | Path | None = None, where: str = ""
) -> torch.Tensor:
    """Read an image file as ``uint8 (3, H, W)`` RGB, turned as its EXIF orientation says.

    A phone stores a portrait photo's pixels sideways with an EXIF Orientation tag; every viewer
    (and every annotation tool) shows it upright, so boxes are drawn in that displayed frame and
    the pixels are turned to it here. Greyscale, palette, RGBA (alpha dropped) and 16-bit images are converted; a truncated or
    corrupt file raises :class:`DataError` (Pillow's lenient truncated-image mode stays off).
    """
    path = Path(path)
    img, orientation = _open(path, source, where)
    if orientation != 1:
        img = _upright(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = arr.max() if arr.size and arr.max() > 255 else 255.0
        arr = np.clip(arr / max(top, 1.0) * 255.0, 0, 255).astype(np.uint8)
        arr = np.repeat(arr[..., None], 3, axis=2)
    else:
        arr = np.asarray(img.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


def load_index_png(
    path: str | Path, *, source: str | Path | None = None, where: str = ""
) -> torch.Tensor:
    """Read a single-channel index PNG (class or instance ids) as ``int64 (H, W)``.

    Refuses RGB masks: their colours are not indices, and guessing a palette would be silent.
    """
    path = Path(path)
    img, _ = _open(path, source, where)  # read as stored: mask tools write no orientation tag
    if img.mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L", "1"):
        raise DataError(
            path, f"mask must be a single-channel index image, got mode {img.mode}", where
        )
    arr = np.asarray(img)
    return torch.from_numpy(arr.astype(np.int64))


def image_size(
    path: str | Path, *, source: str | Path | None = None, where: str = ""
) -> tuple[int, int]:
    """``(H, W)`` as displayed (EXIF orientation applied, as :func:`load_image`), from the header
    only (no decode)."""
    path = Path(path)
    src = source if source is not None else path
    if not path.is_file():
        raise DataError(src, f"image file {path} does not exist", where)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                if _orientation(img) in _QUARTER_TURNS:
                    w, h = h, w
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DataError(path, f"refused as a possible decompression bomb: {e}", where) from e
    except (OSError, SyntaxError, ValueError) as e:
        raise DataError(path, f"cannot read image header: {e}", where) from e
    if w * h > MAX_PIXELS:
        raise DataError(
            path,
            f"image claims {w}x{h} pixels, above the limit of {MAX_PIXELS} "
            "(possible decompression bomb)",
            where,
        )
    return h, w


def _orientation(img: Image.Image) -> int:
    """The EXIF Orientation tag (1 = upright) of an opened, not yet decoded image; an unreadable
    EXIF block counts as upright, as viewers treat it. A PNG's EXIF counts only when its header
    carries it: Pillow would decode every pixel to look further, and the header-only
    :func:`image_size` must agree with :func:`load_image`."""
    if img.format == "PNG" and "exif" not in img.info:
        return 1
    try:
        return int(img.getexif().get(0x0112, 1))  # 0x0112: Orientation
    except Exception:  # noqa: BLE001 - Pillow raises many types on broken EXIF; none is fatal
        return 1


def _upright(img: Image.Image) -> Image.Image:
    """``img`` turned/flipped to its displayed orientation."""
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - see _orientation: broken EXIF is shown unturned
        return img
