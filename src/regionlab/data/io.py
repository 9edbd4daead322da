"""Reading images and mask PNGs safely: every failure becomes a :class:`DataError` naming the file."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from regionlab.data.errors import DataError

# Pillow's own bomb guard warns at ~89 Mpx and errors at twice that; we refuse anything above this
# before decoding a single pixel, so a header claiming a huge size cannot exhaust memory.
MAX_PIXELS = 64_000_000
# EXIF orientations 5..8 turn the picture by a quarter: its displayed width is the stored height.
_QUARTER_TURNS = {5, 6, 7, 8}
# Pillow's modes of 16-bit greyscale samples (PNG, TIFF, PGM).
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")


def resolve_inside(
    root: str | Path, name: str, *, source: str | Path, where: str = "", allow_outside: bool = False
) -> Path:
    """Join ``name`` to ``root`` and refuse a result that escapes ``root`` (``../../etc/passwd``).

    ``source`` is the annotation file that named ``name`` and is what the error points at.
    """
    root = Path(root).resolve()
    try:
        path = (root / name).resolve()
    except (OSError, ValueError) as e:  # a NUL byte, a name longer than the system allows
        raise DataError(source, f"file name {name[:80]!r} cannot be a path here: {e}", where) from e
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
    """The decoded image, and its EXIF orientation as the header gives it (:func:`_orientation`).

    The caller closes the image; on any error it is closed here."""
    src = source if source is not None else path
    _check_is_file(path, src, where)
    if path.stat().st_size == 0:
        raise DataError(path, "file is empty (0 bytes)", where)
    img = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
            _check_size(*img.size, path, where)
            orientation = _orientation(img)
            img.load()
    except BaseException as e:
        if img is not None:
            img.close()
        raise _in_our_words(e, path, "cannot decode image", where) from e
    return img, orientation


def _check_is_file(path: Path, source: str | Path, where: str) -> None:
    try:
        folder, file = path.is_dir(), path.is_file()
    except OSError as e:  # a name longer than the system allows
        raise DataError(
            source, f"file name {path.name[:80]!r} cannot be a path here: {e.strerror}", where
        ) from e
    if folder:
        raise DataError(source, f"{path} is a folder, not an image file", where)
    if not file:
        raise DataError(source, f"image file {path} does not exist", where)


def _check_size(w: int, h: int, path: Path, where: str) -> None:
    if w * h == 0:
        raise DataError(path, f"image is {w}x{h} pixels (no pixels to read)", where)
    if w * h > MAX_PIXELS:
        raise DataError(
            path,
            f"image claims {w}x{h} pixels, above the limit of {MAX_PIXELS} "
            "(possible decompression bomb)",
            where,
        )


def _in_our_words(e: BaseException, path: Path, what: str, where: str) -> BaseException:
    """A Pillow failure as a :class:`DataError` naming ``path``; anything else unchanged."""
    if isinstance(e, DataError):
        return e
    if isinstance(e, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return DataError(
            path,
            f"image is above the limit of {MAX_PIXELS} pixels (possible decompression bomb); "
            f"Pillow: {e}",
            where,
        )
    if isinstance(e, UnidentifiedImageError):
        return DataError(
            path,
            f"{what}: {e} (not a format Pillow reads, a corrupt header, or a 0-pixel size)",
            where,
        )
    if isinstance(e, (OSError, SyntaxError, ValueError)):
        return DataError(path, f"{what}: {e}", where)
    return e


def load_image(
    path: str | Path, *, source: str | Path | None = None, where: str = ""
) -> torch.Tensor:
    """Read an image file as ``uint8 (3, H, W)`` RGB, turned as its EXIF orientation says.

    A phone stores a portrait photo's pixels sideways with an EXIF Orientation tag; every viewer
    (and every annotation tool) shows it upright, so boxes are drawn in that displayed frame and
    the pixels are turned to it here. What other files become (:func:`_rgb`): greyscale and
    1-bit images are repeated on three channels; palette images take their palette colours
    (a transparent entry keeps its colour); alpha is dropped; CMYK is converted by Pillow;
    16-bit samples are divided by 257 (65535 -> 255, whatever the image's own range); an
    animated GIF / APNG gives its first frame. A 32-bit float or integer image is refused (no
    scale is implied), as are a 0-pixel image, one above :data:`MAX_PIXELS` and a truncated or
    corrupt file (Pillow's lenient truncated-image mode stays off): :class:`DataError`.
    """
    path = Path(path)
    img, orientation = _open(path, source, where)
    # A multi-frame file (GIF) or one turned by EXIF keeps its handle open until closed.
    with img:
        if orientation == 1:
            arr = _rgb(img, path, where)
        else:
            with _upright(img) as turned:
                arr = _rgb(turned, path, where)
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def pil_rgb(img: Image.Image, name: str = "the PIL image") -> np.ndarray:
    """``uint8 (H, W, 3)`` of an image already in memory, by :func:`load_image`'s rules (EXIF
    orientation, 16-bit samples divided by 257, ...): a PIL image predicts as its file does
    (Pillow's own ``convert("RGB")`` clips 16-bit samples to 255 and ignores EXIF)."""
    if _orientation(img) == 1:
        return _rgb(img, Path(name), "")
    return _rgb(_upright(img), Path(name), "")


def _rgb(img: Image.Image, path: Path, where: str) -> np.ndarray:
    """``uint8 (H, W, 3)`` pixels of a decoded image, by the rules of :func:`load_image`."""
    if img.mode in _SIXTEEN_BIT:
        arr = np.asarray(img, dtype=np.uint16)
        grey = np.rint(arr.astype(np.float32) / 257.0).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if img.mode in ("I", "F"):
        raise DataError(
            path,
            f"{'float' if img.mode == 'F' else 'integer'} 32-bit image (mode {img.mode}) has no "
            "8-bit scale to read it by; convert it to an 8-bit or 16-bit image first",
            where,
        )
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")  # Pillow warns on P -> RGB with transparency; same colours
    return np.array(img.convert("RGB"), dtype=np.uint8)


def load_index_png(
    path: str | Path, *, source: str | Path | None = None, where: str = ""
) -> torch.Tensor:
    """Read a single-channel index PNG (class or instance ids) as ``int64 (H, W)``.

    Refuses RGB masks: their colours are not indices, and guessing a palette would be silent.
    """
    path = Path(path)
    img, _ = _open(path, source, where)  # read as stored: mask tools write no orientation tag
    with img:
        if img.mode not in ("L", "P", "I", *_SIXTEEN_BIT, "1"):
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
    _check_is_file(path, src, where)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                if _orientation(img) in _QUARTER_TURNS:
                    w, h = h, w
    except Exception as e:
        raise _in_our_words(e, path, "cannot read image header", where) from e
    _check_size(w, h, path, where)
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
