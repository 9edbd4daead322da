"""Region proposals by selective search (Uijlings et al., IJCV 2013), through OpenCV's
``cv2.ximgproc.segmentation``, with a disk cache.

Boxes are ``float32 (P, 4)``, ``xyxy`` in absolute pixels of the image given, with
``0 <= x1 < x2 <= W`` and ``0 <= y1 < y2 <= H``; each box appears once.

Order and determinism. OpenCV ranks every region of every hierarchy (one per colour space,
Felzenszwalb ``k`` and similarity strategy) by ``rank = rand() * level``, ``level`` being the
region's height in its merge tree (1 for the initial segments), sorts all regions by rank,
ascending, and drops repeated boxes, keeping the first. The order is meaningful, but inverted
from the paper's (which puts the top of each hierarchy first, OpenCV's comment says): it is a
random mix leaning to the small, early regions, and "keep the top N" keeps that mix. The
randomness is the C library's ``rand()``, not OpenCV's RNG, so ``cv2.setRNGSeed`` does not fix
it. Measured (OpenCV 5.1, glibc): the set of boxes is the same on every call; their order
changes from call to call within a process (with or without ``cv2.setRNGSeed``); after
``srand(0)`` the order is identical on every call and in every fresh process (and equals a fresh
process's first, unseeded call: glibc treats seed 0 as 1). So :func:`selective_search` seeds the
C ``rand()`` right before each run and keeps OpenCV's order, under a lock, since the state is one
per process and OpenCV releases the GIL while it runs. Where ctypes cannot reach the C library,
boxes are sorted on ``(x1, y1, x2, y2)`` instead (deterministic, but "top N" then means
nothing) and a warning says so.
"""

from __future__ import annotations

import ctypes
import hashlib
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from regionlab.atomic import save_atomic

__all__ = ["CACHE_VERSION", "ProposalCache", "selective_search"]

Mode = Literal["fast", "quality"]

#: Part of every cache key: bump it when what :func:`selective_search` returns changes.
CACHE_VERSION = "ss-1"

# The C library's rand() state is process-wide (glibc, macOS; per thread in Windows' CRT, where
# the seeding call and OpenCV's run happen on the same thread anyway): seed-then-run must not
# interleave with another thread's run.
_LOCK = threading.Lock()


def _c_srand():
    """The ``srand`` OpenCV's ``rand()`` reads, or ``None`` if ctypes cannot find it."""
    try:
        libc = ctypes.cdll.ucrtbase if sys.platform == "win32" else ctypes.CDLL(None)
        return libc.srand
    except (OSError, AttributeError):
        return None


_SRAND = _c_srand()


def require_cv2(contrib: bool = False):
    """The ``cv2`` module, imported on first use: OpenCV is the optional ``proposals`` extra.

    ``contrib``: also require ``cv2.ximgproc`` (selective search), which only the contrib build
    has. Raises ImportError naming the extra to install when either is missing."""
    try:
        import cv2
    except ImportError as e:
        raise ImportError(
            "selective search needs OpenCV contrib, which is not installed: "
            'pip install "regionlab[proposals]" (it provides opencv-contrib-python-headless)'
        ) from e
    if contrib and not hasattr(cv2, "ximgproc"):
        raise ImportError(
            f"selective search needs OpenCV contrib (cv2.ximgproc), but the OpenCV at "
            f"{getattr(cv2, '__file__', '?')} is a build without it (opencv-python shadows the "
            'contrib build): pip uninstall -y opencv-python, then pip install "regionlab[proposals]"'
        )
    return cv2


def _resize_to(image, max_side: int | None):
    """``(H, W, 3)`` uint8 array shrunk (never enlarged) so its longer side is <= max_side."""
    cv2 = require_cv2()

    h, w = image.shape[:2]
    if max_side is None or max(h, w) <= max_side:
        return image
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))  # cv2 wants (width, height)
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)  # area: no aliasing


def selective_search(image: Tensor, mode: Mode = "fast", max_side: int | None = None) -> Tensor:
    """Selective-search boxes of one image, in OpenCV's (seeded, so reproducible) rank order.

    ``image``: ``uint8 (3, H, W)`` RGB. ``mode``: ``"fast"`` (HSV and Lab, three ``k``, two
    strategies; the paper's ~2k boxes on VOC) or ``"quality"`` (five colour spaces, five ``k``,
    four strategies; ~10k boxes, several times slower). ``max_side``: run on a copy shrunk so its
    longer side is at most this (time grows faster than the pixel count), boxes scaled back.
    Returns ``float32 (P, 4)`` ``xyxy`` pixels of ``image``, every box once."""
    cv2 = require_cv2(contrib=True)

    if image.dtype != torch.uint8 or image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"image must be uint8 (3, H, W), got {image.dtype} {tuple(image.shape)}")
    if mode not in ("fast", "quality"):
        raise ValueError(f"mode must be 'fast' or 'quality', got {mode!r}")
    if max_side is not None and max_side < 1:
        raise ValueError(f"max_side must be >= 1, got {max_side}")
    h, w = image.shape[1:]
    bgr = image.flip(0).permute(1, 2, 0).contiguous().numpy()  # OpenCV: (H, W, 3) BGR
    small = _resize_to(bgr, max_side)
    ss = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
    ss.setBaseImage(small)
    if mode == "fast":
        ss.switchToSelectiveSearchFast()
    else:
        ss.switchToSelectiveSearchQuality()
    with _LOCK:
        if _SRAND is not None:
            _SRAND(0)
        rects = ss.process()  # (P, 4) int32 (x, y, w, h), OpenCV's rank order
    xywh = torch.from_numpy(rects).reshape(-1, 4).float()
    boxes = torch.cat([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], dim=1)  # x2 = x + w: pixel edges
    sh, sw = small.shape[:2]
    if (sh, sw) != (h, w):
        boxes = boxes * torch.tensor([w / sw, h / sh, w / sw, h / sh])
        boxes = torch.minimum(boxes, torch.tensor([w, h, w, h], dtype=torch.float32))
    if _SRAND is None:
        warnings.warn(
            "selective_search: the C library's srand is out of reach, so OpenCV's random order "
            "cannot be made reproducible; boxes are sorted by (x1, y1, x2, y2) instead",
            stacklevel=2,
        )
        boxes = torch.unique(boxes, dim=0)  # unique rows, sorted lexicographically
    return boxes.contiguous()


class ProposalCache:
    """Selective-search boxes on disk, one small ``.pt`` file per (image, settings).

    The key hashes the image's bytes and shape, ``mode``, ``max_side``, :data:`CACHE_VERSION`
    and OpenCV's version, so a changed image or setting is a different file (nothing is ever
    invalidated in place). Files are written to a temporary name in the same folder and renamed
    over the final one (``os.replace``, atomic), so a reader sees a whole file or none, and two
    processes computing the same key at once just write the same content twice. A file that does
    not load (say, a disk filled mid-write by something else) is recomputed.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder).expanduser()
        self.hits = 0
        self.misses = 0

    def key(self, image: Tensor, mode: Mode = "fast", max_side: int | None = None) -> str:
        cv2 = require_cv2()

        h = hashlib.sha256()
        h.update(f"{CACHE_VERSION}|cv2={cv2.__version__}|{mode}|{max_side}|".encode())
        h.update(f"{image.dtype}|{tuple(image.shape)}|".encode())
        h.update(image.contiguous().numpy().tobytes())
        return h.hexdigest()[:32]

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.pt"

    def get(self, image: Tensor, mode: Mode = "fast", max_side: int | None = None) -> Tensor:
        """:func:`selective_search` of ``image``, read from the cache or computed and stored."""
        return self.get_timed(image, mode, max_side)[0]

    def get_timed(
        self, image: Tensor, mode: Mode = "fast", max_side: int | None = None
    ) -> tuple[Tensor, float]:
        """``(boxes, seconds)``: seconds is how long the search took when it was computed (a hit
        reports the stored time, so timings survive a warm cache)."""
        path = self.path(self.key(image, mode, max_side))
        entry = self._read(path)
        if entry is not None:
            self.hits += 1
            return entry["boxes"], float(entry["seconds"])
        self.misses += 1
        t0 = time.perf_counter()
        # Looked up at call time (not bound at import), so tests can count calls.
        boxes = sys.modules[__name__].selective_search(image, mode, max_side)
        seconds = time.perf_counter() - t0
        self._write(path, {"boxes": boxes, "seconds": seconds})
        return boxes, seconds

    @staticmethod
    def _read(path: Path) -> dict | None:
        try:
            entry = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            return None
        except Exception:  # noqa: BLE001 - unreadable: recompute and overwrite
            return None
        ok = isinstance(entry, dict) and isinstance(entry.get("boxes"), Tensor)
        return entry if ok and "seconds" in entry else None

    def _write(self, path: Path, entry: dict) -> None:
        save_atomic(entry, path)  # temp file, fsync, rename: readers never see a torn file
