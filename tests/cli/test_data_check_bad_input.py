"""``regionlab data check`` on one broken dataset per reader: the problem listed in one line
naming the file, the entry and the problem (exit 1), never a traceback; ``data show``, which
reads without ``skip_bad``, stops with the same words in one line (exit 2)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from regionlab.cli.main import main

sys.path.insert(0, str(Path(__file__).parents[1] / "data"))
from fixtures import (  # noqa: E402
    captions_only,
    coco_data,
    make_caption_set,
    make_coco,
    make_instances,
    make_yolo,
    write_index_png,
)


def _coco(tmp_path: Path, edit) -> str:
    data = coco_data()
    edit(data)
    ann, images, _ = make_coco(tmp_path, data)
    return f"coco:{ann}:{images}"


def _coco_polygon(tmp_path: Path) -> str:
    return _coco(tmp_path, lambda d: d["annotations"][0].update(segmentation=[[2, 2, 10, 2, 10]]))


def _coco_keypoint(tmp_path: Path) -> str:
    return _coco(tmp_path, lambda d: d["annotations"][0].update(keypoints=[40, 4, 2, 0, 0, 0]))


def _captions(tmp_path: Path) -> str:
    data = captions_only()
    data["annotations"][1]["caption"] = "  "
    caps, images = make_caption_set(tmp_path, data)
    return f"coco:{caps}:{images}"


def _yolo_polygon(tmp_path: Path) -> str:
    root = make_yolo(tmp_path)
    (root / "labels" / "train" / "a.txt").write_text("0 0.1 0.1 0.9 0.1 0.9 1.5\n")
    return f"yolo:{root}"


def _instances(tmp_path: Path) -> str:
    images, masks = make_instances(tmp_path)
    write_index_png(masks / "b_mask.png", np.random.default_rng(0).integers(0, 4, (16, 16)))
    cut = (masks / "b_mask.png").read_bytes()
    (masks / "b_mask.png").write_bytes(cut[: len(cut) // 2])  # header intact: found when decoded
    return f"instances:{images}:{masks}"


def _float_image(tmp_path: Path) -> str:
    from PIL import Image

    def edit(data: dict) -> None:
        data["images"][1] = {"id": 11, "file_name": "depth.tif"}

    spec = _coco(tmp_path, edit)
    Image.fromarray(np.ones((4, 4), np.float32)).save(tmp_path / "images" / "depth.tif")
    return spec


CASES = {
    "coco": (_coco_polygon, "instances.json (annotation id 100, image id 10): polygon 0 has an "
             "odd number of coordinates (5)"),
    "coco-keypoints": (_coco_keypoint, "instances.json (annotation id 100, image id 10): "
                       "keypoint 0 (head) at (40, 4) lies outside the 32x24 image"),
    "captions": (_captions, "captions_train2017.json (annotations[1]): caption is empty ('  ')"),
    "yolo-seg": (_yolo_polygon, "a.txt (line 1): polygon point 3 has y = 1.5, outside 0..1"),
    "instances": (_instances, "b_mask.png: cannot decode image"),
    "image": (_float_image, "depth.tif (image id 11): float 32-bit image (mode F)"),
}  # fmt: skip


@pytest.mark.parametrize("reader", list(CASES))
def test_data_check_lists_the_problem_in_one_line(tmp_path, capsys, reader):
    setup, expected = CASES[reader]
    spec = setup(tmp_path)
    assert main(["data", "check", spec]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    lines = [line for line in out.splitlines() if line.startswith("  - ")]
    assert len(lines) == 1 and expected in lines[0], out
    assert "1 problem" in out

    assert main(["data", "show", spec, "--out", str(tmp_path / "shown"), "--n", "8"]) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert err.count("\n") == 1 and err.startswith("regionlab: error: ") and expected in err, err


def test_data_check_progress_lines_on_large_sets(capsys):
    from regionlab.cli.datasets import _progress

    show = _progress("yolo:big", 0.0)
    for done in range(1, 2001):
        show(done, 2000, done // 500)
    small = _progress("yolo:small", 0.0)
    for done in range(1, 101):
        small(done, 100, 0)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 10  # one a tenth, none for a set under 1000 samples
    assert lines[0].startswith("yolo:big: decoded 200 of 2000 samples (10%), 0 problem(s)")
    assert lines[-1].startswith("yolo:big: decoded 2000 of 2000 samples (100%), 4 problem(s)")
