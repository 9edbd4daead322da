"""Tiny finished training runs for the report tests (each a few seconds on one thread): a
detector on a COCO set whose class and file names are markup, and a segmenter on scenes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

import regionlab
from regionlab.data.scenes import SceneConfig, SceneDataset

HOSTILE = "<img src=x onerror=alert(1)>"
# category names as a user's annotation file may hold them: markup, quotes, a matplotlib $
NAMES = [HOSTILE, "sq$uare \"&'", "</td><script>alert(2)</script>"]
HOSTILE_FILE = "<b onclick=alert(3)>bold.png"  # no "/": it is a file name


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def write_hostile_coco(root: Path, n: int = 6, size: int = 48) -> Path:
    """Scenes written as a COCO set: PNG images (one named :data:`HOSTILE_FILE`) and an
    ``ann.json`` whose three categories are :data:`NAMES`."""
    scenes = SceneDataset(n, seed=3, split="val", config=SceneConfig(size=size))
    (root / "images").mkdir(parents=True)
    images, anns = [], []
    for i in range(n):
        s = scenes[i]
        name = HOSTILE_FILE if i == 0 else f"scene{i}.png"
        Image.fromarray(s.image.permute(1, 2, 0).numpy()).save(root / "images" / name)
        images.append({"id": i + 1, "file_name": name, "height": size, "width": size})
        for box, label in zip(s.boxes.tolist(), s.labels.tolist()):
            x0, y0, x1, y1 = box
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": label,
                         "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0),
                         "iscrowd": 0})  # fmt: skip
    cats = [{"id": k + 1, "name": name} for k, name in enumerate(NAMES)]
    ann = root / "ann.json"
    ann.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return ann


@pytest.fixture(scope="session")
def det_run(tmp_path_factory) -> Path:
    """A grid detector trained one epoch on the hostile COCO set (report.html written at
    its end, as ``regionlab train`` does)."""
    root = tmp_path_factory.mktemp("report-det")
    ann = write_hostile_coco(root / "data")
    spec = f"coco:{ann}:{root / 'data' / 'images'}"
    out = root / "det"
    torch.set_num_threads(1)
    regionlab.train("detect", data=spec, val=spec, model="grid", size=48, epochs=1,
                    batch_size=3, threads=1, out=str(out))  # fmt: skip
    return out


@pytest.fixture(scope="session")
def seg_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report-seg") / "seg"
    torch.set_num_threads(1)
    regionlab.train("segment", data="scenes:size=32,n=8", val="scenes:size=32,n=4",
                    widths=[8, 16], epochs=2, batch_size=4, threads=1, scale=[1, 1],
                    out=str(out))  # fmt: skip
    return out
