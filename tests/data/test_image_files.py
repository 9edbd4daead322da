"""Each file reader names every sample's image file, so a caller reads sizes from headers
(no decode): the file exists and its header size is the decoded image's size."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from regionlab.api.specs import open_dataset
from regionlab.data.io import image_size

sys.path.insert(0, str(Path(__file__).parent))
from fixtures import make_coco, make_instances, make_mask_folder, make_voc, make_yolo  # noqa: E402


def _spec(kind: str, root: Path) -> str:
    if kind == "voc":
        return f"voc:{make_voc(root)}"
    if kind == "masks":
        return f"masks:{make_mask_folder(root)}:num_classes=3,ignore_index=11"
    if kind == "instances":
        images, masks = make_instances(root)
        return f"instances:{images}:{masks}"
    if kind == "yolo":
        return f"yolo:{make_yolo(root)}"
    ann, images, _ = make_coco(root)
    return f"coco:{ann}:{images}"


@pytest.mark.parametrize("kind", ["voc", "masks", "instances", "yolo", "coco"])
def test_every_sample_names_its_image_file(tmp_path, kind):
    ds = open_dataset(_spec(kind, tmp_path), split="train")
    assert len(ds) >= 2
    for i in range(len(ds)):
        path = ds.image_file(i)
        assert path.is_file()
        assert image_size(path) == tuple(ds[i].image.shape[-2:])


def test_generated_scenes_have_no_files():
    assert open_dataset("scenes:n=2", split="train").image_file(0) is None
