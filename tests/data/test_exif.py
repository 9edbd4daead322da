"""Phone photos: pixels stored sideways with an EXIF Orientation tag are read as displayed, so boxes
annotated on the displayed picture line up (issue 19)."""

from pathlib import Path

import numpy as np
import pytest
from fixtures import write_json
from PIL import Image

from regionlab.data.coco import CocoDataset
from regionlab.data.io import image_size, load_image
from regionlab.data.yolo import YoloDataset

H, W = 20, 40  # the picture as every viewer shows it: landscape
BOX = (4, 2, 16, 10)  # x1, y1, x2, y2 of the white object, in the displayed frame
# Orientation tag -> how to store the displayed picture so that a viewer turns it back.
STORE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,  # the viewer turns it 90 degrees clockwise
    8: Image.Transpose.ROTATE_270,
}


def write_phone_photo(path: Path, orientation: int) -> None:
    """A JPEG (or PNG, by ``path``'s suffix) of a white rectangle at ``BOX`` on black, stored
    turned, with its EXIF tag."""
    shown = np.zeros((H, W, 3), dtype=np.uint8)
    x1, y1, x2, y2 = BOX
    shown[y1:y2, x1:x2] = 255
    stored = Image.fromarray(shown).transpose(STORE[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    path.parent.mkdir(parents=True, exist_ok=True)
    stored.save(path, exif=exif, quality=95)
    assert Image.open(path).getexif()[0x0112] == orientation


def assert_box_on_object(image, box) -> None:
    """The box covers the white pixels: bright inside, dark around (JPEG blurs edges by ~1 px)."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    gray = image.float().mean(0)
    assert gray[y1 + 1 : y2 - 1, x1 + 1 : x2 - 1].mean() > 200
    outside = gray.clone()
    outside[max(y1 - 1, 0) : y2 + 1, max(x1 - 1, 0) : x2 + 1] = 0
    assert outside.max() < 60


@pytest.mark.parametrize("orientation", sorted(STORE))
def test_load_image_turns_as_displayed(tmp_path, orientation):
    path = tmp_path / "phone.jpg"
    write_phone_photo(path, orientation)
    image = load_image(path)
    assert image.shape == (3, H, W)
    assert image_size(path) == (H, W)  # the header-only size agrees with the decoded one
    assert_box_on_object(image, BOX)


@pytest.mark.parametrize("orientation", [3, 6])
def test_yolo_boxes_line_up_on_a_rotated_photo(tmp_path, orientation):
    write_phone_photo(tmp_path / "images" / "p.jpg", orientation)
    (tmp_path / "labels").mkdir()
    x1, y1, x2, y2 = BOX
    cx, cy, bw, bh = (x1 + x2) / 2 / W, (y1 + y2) / 2 / H, (x2 - x1) / W, (y2 - y1) / H
    (tmp_path / "labels" / "p.txt").write_text(f"0 {cx} {cy} {bw} {bh}\n")
    (tmp_path / "classes.txt").write_text("thing\n")
    s = YoloDataset(tmp_path)[0]
    assert s.size == (H, W)
    assert s.boxes[0].tolist() == pytest.approx(BOX, abs=1e-4)
    assert_box_on_object(s.image, s.boxes[0].tolist())

    from regionlab.cli.main import main

    assert main(["data", "show", f"yolo:{tmp_path}", "--out", str(tmp_path / "s")]) == 0
    assert Image.open(tmp_path / "s" / "sample_000.png").width >= W


def test_coco_sizes_are_the_displayed_ones(tmp_path):
    write_phone_photo(tmp_path / "images" / "p.jpg", 6)
    x1, y1, x2, y2 = BOX
    ann = write_json(
        tmp_path / "instances.json",
        {
            "images": [{"id": 1, "file_name": "p.jpg", "width": W, "height": H}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
                             "bbox": [x1, y1, x2 - x1, y2 - y1]}],
            "categories": [{"id": 1, "name": "thing"}],
        },
    )  # fmt: skip
    s = CocoDataset(ann, tmp_path / "images")[0]
    assert s.size == (H, W)
    assert_box_on_object(s.image, s.boxes[0].tolist())


def test_photo_without_orientation_is_unchanged(tmp_path):
    path = tmp_path / "plain.jpg"
    Image.fromarray(np.full((H, W, 3), 128, np.uint8)).save(path, quality=95)
    assert load_image(path).shape == (3, H, W) and image_size(path) == (H, W)


def test_png_with_an_exif_header_is_turned_too(tmp_path):
    path = tmp_path / "turned.png"
    write_phone_photo(path, 6)
    assert load_image(path).shape == (3, H, W) and image_size(path) == (H, W)
    assert_box_on_object(load_image(path), BOX)


def test_image_size_decodes_no_pixels(tmp_path, monkeypatch):
    """Looking for EXIF must not decode a PNG (Pillow's PNG getexif() would load every pixel)."""
    from PIL import PngImagePlugin

    path = tmp_path / "plain.png"
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(path)

    decoded = []
    real_load = PngImagePlugin.PngImageFile.load

    def load(self):
        decoded.append(self)
        return real_load(self)

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", load)
    assert image_size(path) == (H, W) and decoded == []
