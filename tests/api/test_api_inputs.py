"""What ``Predictor.predict`` accepts: every kind of source gives the same frames; unreadable
files are named and counted, never dropped silently; videos are read frame by frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from regionlab.api.inputs import Frames


def _picture(h: int = 20, w: int = 30, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_every_kind_of_source_gives_the_same_frames(tmp_path):
    arr = _picture()
    path = tmp_path / "a.png"
    Image.fromarray(arr).save(path)
    expected = torch.from_numpy(arr).permute(2, 0, 1)
    sources = [str(path), path, tmp_path, str(tmp_path / "*.png"), [path], Image.open(path),
               arr, expected, expected.float() / 255, expected[None].float() / 255]  # fmt: skip
    for source in sources:
        frames = list(Frames(source))
        assert len(frames) == 1, source
        assert torch.equal(frames[0].image, expected), type(source)
        assert frames[0].image.dtype == torch.uint8 and frames[0].index is None
    assert Frames([path, arr, expected[None].repeat(2, 1, 1, 1)]).__len__() == 4


def test_a_pil_image_in_memory_reads_as_its_file_does(tmp_path):
    """16-bit grey (Pillow's convert clips it to white) and an EXIF-turned photo."""
    grey = np.random.default_rng(1).integers(0, 65536, (12, 16), dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(grey).save(path)
    turned = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways, shown turned 90 degrees clockwise
    Image.fromarray(_picture(20, 30)).save(turned, exif=exif)
    for file in (path, turned):
        (from_file,) = list(Frames(file))
        (in_memory,) = list(Frames(Image.open(file)))
        assert torch.equal(in_memory.image, from_file.image), file.name
    assert list(Frames(Image.open(turned)))[0].image.shape == (3, 30, 20)
    assert int(list(Frames(Image.open(path)))[0].image.max()) > 200  # not clipped, scaled


def test_a_folder_names_and_counts_what_it_skips(tmp_path):
    Image.fromarray(_picture()).save(tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("not a picture")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    told = []
    frames = Frames(tmp_path, on_skip=told.append)
    assert [Path(f.path).name for f in frames] == ["a.png"]
    assert sorted(Path(s.name).name for s in frames.skipped) == ["broken.jpg", "notes.txt"]
    assert told == frames.skipped
    assert all(str(s).startswith(f"skipped {tmp_path}") for s in told)


def test_missing_sources_and_bad_images_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        Frames(tmp_path / "nope.png")
    with pytest.raises(FileNotFoundError, match="no files match"):
        Frames(str(tmp_path / "*.jpg"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="has no files"):
        Frames(tmp_path / "empty")
    with pytest.raises(TypeError, match="uint8"):
        list(Frames(np.zeros((4, 4, 3), np.float32)))
    with pytest.raises(ValueError, match="HxWx3"):
        list(Frames(np.zeros((4, 4, 4), np.uint8)))
    with pytest.raises(TypeError, match="cannot predict a int"):
        list(Frames(3))


def write_video(path: Path, n: int = 5, h: int = 32, w: int = 48) -> None:
    """``n`` frames, frame ``i`` a flat grey of level ``40 i``."""
    import cv2

    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (w, h))
    assert out.isOpened()
    for i in range(n):
        out.write(np.full((h, w, 3), 40 * i, np.uint8))
    out.release()


def test_a_video_is_read_frame_by_frame(tmp_path):
    video = tmp_path / "clip.avi"
    write_video(video)
    frames = Frames(video)
    assert len(frames) == 5
    got = list(frames)
    assert [f.index for f in got] == [0, 1, 2, 3, 4]
    assert all(f.path == str(video) and f.image.shape == (3, 32, 48) for f in got)
    levels = [float(f.image.float().mean()) for f in got]
    assert levels == sorted(levels) and abs(levels[-1] - 160) < 8
    assert not frames.skipped


def test_an_unreadable_video_is_named_and_skipped(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    frames = Frames(bad, on_skip=lambda s: None)
    assert list(frames) == []
    assert [s.name for s in frames.skipped] == [str(bad)]
