"""A prediction run's files in a folder (what ``regionlab predict`` writes):

- ``<name>_pred.png``: the drawing of each image; for a video, ``<name>_pred.mp4`` with the
  drawing of every frame;
- ``predictions.json``: machine-readable results of every image (COCO results entries for
  detectors, with RLE masks and keypoints where predicted; captions; keypoints; alignments);
- ``<name>_classes.png`` (segmentation): the class map, one class index per pixel;
- ``<name>_masks.png`` (instance): the instance map, 0 for no object, ``i`` for the ``i``-th
  best-scoring object (its entry in ``predictions.json``);
- ``labels/<name>.txt`` with ``save_txt`` (detectors): YOLO lines ``class cx cy w h score``.

A video frame's name is ``<video name>_<frame number>``. Two inputs with the same name (``a/x.jpg``
and ``b/x.jpg``) get ``x`` and ``x_2`` (and the same in ``predictions.json``'s ``image_id``), so no
output replaces another. A folder that already holds files is refused unless ``exist_ok``.
Every file is written atomically.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from regionlab.api.results import DetectionResult, Result, SegmentationResult
from regionlab.atomic import write_bytes_atomic, write_text_atomic

# below this many frames no progress bar is shown
PROGRESS_FROM = 10
VIDEO_CODEC = "mp4v"
BOX_FAMILIES = ("detect", "instance", "localize")  # their results are DetectionResults


@dataclass
class Saved:
    """What a :func:`save_predictions` run wrote."""

    images: int = 0  # images and frames predicted
    files: list[Path] = field(default_factory=list)
    skipped: list = field(default_factory=list)  # inputs that could not be read


def save_predictions(predictor, source, out: str | Path, *, save_txt: bool = False,
                     progress: bool = True, exist_ok: bool = False, **kw) -> Saved:  # fmt: skip
    """Predict ``source`` (anything :meth:`Predictor.stream` takes) into the folder ``out``
    (refused when it already holds files, unless ``exist_ok``: then same-named files are
    replaced); ``kw`` go to :meth:`Predictor.stream` (``conf``, ``iou``, ``max_det``, family
    options)."""
    from tqdm import tqdm

    if save_txt and predictor.task_name not in BOX_FAMILIES:
        raise ValueError(f"save_txt writes boxes: only {', '.join(BOX_FAMILIES)} models predict "
                         f"them, this is a {predictor.task_name} model")  # fmt: skip
    out = Path(out)
    _check_out(out, exist_ok)
    out.mkdir(parents=True, exist_ok=True)
    frames = predictor.frames(source, on_skip=lambda s: tqdm.write(str(s)))
    total = len(frames)
    bar = tqdm(total=total, unit="img", disable=not progress or total < PROGRESS_FROM)
    saved, records, videos, names = Saved(), None, _Videos(out), _Names()
    try:
        for r in predictor.stream(frames, **kw):
            base = names.of(r, saved.images)
            image_id = base + Path(r.path).suffix if r.path is not None else base
            name = base if r.frame is None else f"{base}_{r.frame:06d}"
            rec = r.records(image_id if r.frame is None else f"{image_id}#{r.frame}")
            if rec is not None:  # an image without objects is an empty list, still written
                records = records if records is not None else []
                records.extend(rec)
            if r.frame is None:
                saved.files.append(_png(r.plot(), out / f"{name}_pred.png"))
                tqdm.write(str(saved.files[-1]))
            else:
                videos.add(r, base)
            saved.files += _extras(r, out, name, save_txt)
            saved.images += 1
            bar.update(1)
    except BaseException:
        videos.discard()
        raise
    finally:
        bar.close()
    saved.files += videos.close()
    if records is not None:
        write_text_atomic(out / "predictions.json", json.dumps(records, indent=1))
        saved.files.append(out / "predictions.json")
    saved.skipped = list(frames.skipped)
    return saved


def _check_out(out: Path, exist_ok: bool) -> None:
    if exist_ok or not out.is_dir():
        return
    held = sorted(p.name for p in out.iterdir())
    if held:
        shown = ", ".join(held[:3]) + (", ..." if len(held) > 3 else "")
        raise FileExistsError(f"{out} already holds {len(held)} file(s) ({shown}); choose "
                              "another output folder, or pass exist_ok=True (--exist-ok) to "
                              "replace same-named files")  # fmt: skip


class _Names:
    """One output name per input: its stem, then ``stem_2``, ``stem_3`` ... for later inputs
    with the same stem (a video's frames share its name); an image in memory is ``image_00007``
    by its place. Names differing only in case count as the same (``X.png`` and ``x.png`` are
    one file on macOS and Windows)."""

    def __init__(self) -> None:
        self.given: dict[str, str] = {}  # input path (or in-memory place) -> name
        self.used: set[str] = set()  # lower case

    def of(self, r: Result, k: int) -> str:
        key, stem = (r.path, Path(r.path).stem) if r.path else (f"<memory {k}>", f"image_{k:05d}")
        if key not in self.given:
            name, n = stem, 1
            while name.lower() in self.used:
                n += 1
                name = f"{stem}_{n}"
            self.given[key] = name
            self.used.add(name.lower())
        return self.given[key]


def _extras(r: Result, out: Path, name: str, save_txt: bool) -> list[Path]:
    files = []
    if isinstance(r, SegmentationResult):
        files.append(_png(r.to_png(), out / f"{name}_classes.png"))
    if isinstance(r, DetectionResult) and r.masks is not None:
        files.append(_png(instance_map(r.masks), out / f"{name}_masks.png"))
    if save_txt and isinstance(r, DetectionResult):
        (out / "labels").mkdir(exist_ok=True)
        lines = "".join(line + "\n" for line in r.to_yolo())
        write_text_atomic(out / "labels" / f"{name}.txt", lines)
        files.append(out / "labels" / f"{name}.txt")
    return files


def instance_map(masks: torch.Tensor) -> Image.Image:
    """``bool (N, H, W)`` masks sorted best first -> an instance-id PNG (``i + 1`` where the
    ``i``-th object is; the better object wins where two overlap)."""
    n, h, w = masks.shape
    ids = torch.zeros(h, w, dtype=torch.int32)
    for i in range(n - 1, -1, -1):
        ids[masks[i]] = i + 1
    if n < 256:
        return Image.fromarray(ids.to(torch.uint8).numpy())
    return Image.fromarray(ids.numpy().astype(np.uint16))


def _png(img: Image.Image, path: Path) -> Path:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    write_bytes_atomic(path, buf.getvalue())
    return path


class _Videos:
    """One video of drawings per video predicted, written to a temporary file and renamed
    when complete. Every frame has the first drawing's size, rounded up to even sides (a
    drawing whose legend is taller is cut at the bottom; a smaller one is padded with white)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.open: dict[str, tuple] = {}  # video path -> (writer, temporary, final, size)

    def add(self, r: Result, name: str) -> None:
        """A frame's drawing (``name``: the video's output name)."""
        import cv2

        pic = r.plot().convert("RGB")
        if r.path not in self.open:
            self._close_others()
            final = self.out / f"{name}_pred.mp4"
            tmp = final.with_name(f".{final.stem}.tmp.mp4")
            fourcc = cv2.VideoWriter_fourcc(*VIDEO_CODEC)
            # even sides: MPEG-4 codes 2x2 chroma blocks
            size = (pic.width + pic.width % 2, pic.height + pic.height % 2)
            writer = cv2.VideoWriter(str(tmp), fourcc, _fps(r.path), size)
            if not writer.isOpened():
                raise ValueError(f"OpenCV cannot write the video {final} (codec {VIDEO_CODEC})")
            self.open[r.path] = (writer, tmp, final, size)
        writer, _, _, size = self.open[r.path]
        if pic.size != size:
            canvas = Image.new("RGB", size, "white")
            canvas.paste(pic, (0, 0))
            pic = canvas
        writer.write(cv2.cvtColor(np.asarray(pic), cv2.COLOR_RGB2BGR))

    def _close_others(self) -> list[Path]:
        done = []
        for writer, tmp, final, _ in self.open.values():
            writer.release()
            os.replace(tmp, final)
            done.append(final)
        self.open.clear()
        return done

    def close(self) -> list[Path]:
        done = self._close_others()
        for p in done:
            print(p)
        return done

    def discard(self) -> None:
        """A run that failed leaves no half-written video."""
        for writer, tmp, _, _ in self.open.values():
            writer.release()
            tmp.unlink(missing_ok=True)
        self.open.clear()


def _fps(path: str) -> float:
    import cv2

    cap = cv2.VideoCapture(path)
    fps = cap.get(cv2.CAP_PROP_FPS) if cap.isOpened() else 0
    cap.release()
    return fps if fps and fps > 0 else 25.0
