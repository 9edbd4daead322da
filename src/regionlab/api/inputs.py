"""What :meth:`Predictor.predict` accepts, turned into one stream of RGB frames.

A source is a path (an image file, a video file, a folder of either), a glob (``"photos/*.jpg"``,
``"**"`` recursive), a PIL image, an ``HxWx3`` (or ``HxW``) ``uint8`` array, a tensor (``uint8``
or float in ``[0, 1]``; ``(3, H, W)`` or a batch ``(N, 3, H, W)``), or a list of any of these.
Float tensors are quantised to 8 bits, as an image file would be, so every kind of source
gives the same predictions for the same picture.

A file that is not an image, an image that does not decode and a video frame that does not
read are reported by name (``on_skip``, printed by default) and skipped, and counted in
:attr:`Frames.skipped`; never silently.
"""

from __future__ import annotations

import glob
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}


@dataclass
class Frame:
    """One image to predict: ``image`` ``uint8 (3, H, W)`` RGB; ``path`` the file it came from
    (None for an in-memory image); ``index`` its frame number in a video (None otherwise)."""

    image: torch.Tensor
    path: str | None = None
    index: int | None = None
    fps: float | None = None  # of its video


@dataclass
class Skipped:
    name: str  # the file (or "video.mp4 frame 12")
    reason: str

    def __str__(self) -> str:
        return f"skipped {self.name}: {self.reason}"


@dataclass
class Frames:
    """The frames of ``source``, read lazily (a long video is never held in memory);
    :attr:`skipped` fills up while they are read. ``len()`` is an estimate for videos (their
    header's frame count)."""

    source: object
    on_skip: Callable[[Skipped], None] = print
    skipped: list[Skipped] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._items = list(_expand(self.source))

    def __len__(self) -> int:
        return sum(_count(x) for x in self._items)

    def __iter__(self) -> Iterator[Frame]:
        for item in self._items:
            if isinstance(item, Path):
                yield from self._file(item)
            else:
                yield from _in_memory(item)

    def skip(self, name: str, reason: str) -> None:
        s = Skipped(name, reason)
        self.skipped.append(s)
        self.on_skip(s)

    def _file(self, path: Path) -> Iterator[Frame]:
        from regionlab.data.errors import DataError
        from regionlab.data.io import load_image

        if path.suffix.lower() in VIDEO_SUFFIXES:
            yield from self._video(path)
            return
        try:
            yield Frame(load_image(path), str(path))
        except DataError as e:
            self.skip(str(path), f"not a readable image ({e.problem})")

    def _video(self, path: Path) -> Iterator[Frame]:
        import cv2

        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            self.skip(str(path), "not a readable video (OpenCV cannot open it)")
            return
        fps = cap.get(cv2.CAP_PROP_FPS) or None
        expected = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        i = 0
        try:
            while True:
                ok, bgr = cap.read()
                if not ok:
                    break
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                yield Frame(torch.from_numpy(rgb).permute(2, 0, 1).contiguous(), str(path), i, fps)
                i += 1
        finally:
            cap.release()
        if i < expected:
            self.skip(f"{path} frames {i}..{expected - 1}",
                      f"unreadable: read {i} of the {expected} frames its header lists")  # fmt: skip


def _expand(source) -> Iterator[object]:
    """Files (as :class:`Path`, folders and globs expanded, sorted) and in-memory images."""
    if isinstance(source, (list, tuple)):
        for s in source:
            yield from _expand(s)
        return
    if not isinstance(source, (str, Path)):
        yield source
        return
    text = str(source)
    path = Path(text)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file())
        if not files:
            raise FileNotFoundError(f"folder {path} has no files to predict")
        yield from files
    elif path.exists():
        yield path
    elif glob.has_magic(text):
        found = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if not found:
            raise FileNotFoundError(f"no files match {text!r}")
        yield from found
    else:
        raise FileNotFoundError(f"{text}: no such file, folder or glob match")


def _count(item) -> int:
    if isinstance(item, Path):
        if item.suffix.lower() in VIDEO_SUFFIXES:
            import cv2

            cap = cv2.VideoCapture(str(item))
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
            cap.release()
            return n
        return 1
    if isinstance(item, torch.Tensor) and item.dim() == 4:
        return item.shape[0]
    return 1


def _in_memory(item) -> Iterator[Frame]:
    from PIL import Image

    if isinstance(item, Image.Image):
        from regionlab.data.io import pil_rgb

        yield Frame(torch.from_numpy(pil_rgb(item)).permute(2, 0, 1).contiguous())
    elif isinstance(item, np.ndarray):
        yield Frame(_from_array(item))
    elif isinstance(item, torch.Tensor):
        for img in item if item.dim() == 4 else [item]:
            yield Frame(_from_tensor(img))
    else:
        raise TypeError(
            f"cannot predict a {type(item).__name__}: give a path, folder, glob, PIL image, "
            "HxWx3 uint8 array or (3, H, W) tensor, or a list of these"
        )


def _from_array(a: np.ndarray) -> torch.Tensor:
    if a.dtype != np.uint8:
        raise TypeError(f"an image array must be uint8 (0..255), got {a.dtype}; for float "
                        "images in [0, 1] give a (3, H, W) torch tensor")  # fmt: skip
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"an image array must be HxWx3 (RGB) or HxW, got shape {a.shape}")
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).contiguous()


def _from_tensor(t: torch.Tensor) -> torch.Tensor:
    if t.dim() != 3 or t.shape[0] != 3:
        raise ValueError(f"an image tensor must be (3, H, W) or (N, 3, H, W), got {tuple(t.shape)}")
    t = t.detach().cpu()
    if t.dtype == torch.uint8:
        return t.contiguous()
    if not t.is_floating_point():
        raise TypeError(f"an image tensor must be uint8 or float in [0, 1], got {t.dtype}")
    return (t.float().clamp(0, 1) * 255).round().to(torch.uint8)
