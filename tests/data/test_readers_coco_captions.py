"""A COCO ``captions_*.json`` on its own is a caption set (issue 19): images and their captions,
no categories, no objects."""

import pytest
from fixtures import (
    captions_only,
    coco_data,
    make_caption_set,
    raises_data_error,
    shared,
)

from regionlab.data.coco import CocoDataset


def test_captions_file_alone_is_a_caption_set(tmp_path):
    caps, images = make_caption_set(tmp_path)
    ds = CocoDataset(caps, images)
    assert ds.captions_only and ds.classes == ["background"] and not ds.has_masks
    assert ds.image_ids == [3, 1, 2] and len(ds) == 3 and ds.num_keypoints == 0
    a, b, c = ds[0], ds[1], ds[2]
    assert a.image.shape == (3, 24, 32) and a.captions == ["Wide noise."]
    assert b.captions == ["A square of noise.", "More noise."]
    assert c.captions == []  # listed without a caption: the caption task's check says so
    for s in (a, b, c):
        assert s.boxes.shape == (0, 4) and s.labels.shape == (0,)
        assert s.masks is None and s.semantic is None and s.keypoints is None


@pytest.mark.parametrize(
    ("edit", "phrase"),
    [
        (lambda d: d["annotations"][1].update(caption=5), r"\(annotations\[1\]\): .*'caption'"),
        (lambda d: d["annotations"][2].update(image_id=99), r"\(annotations\[2\]\): .*unknown image id 99"),
        (lambda d: d["images"][0].update(width=31), r"\(image id 3\): image a.png is 32x24 but"),
        (lambda d: d["images"][1].pop("file_name"), r"\(image id 1\): image entry has no 'file_name'"),
        (lambda d: d.pop("images"), "missing or non-list 'images'"),
    ],
)  # fmt: skip
def test_bad_captions_file_names_file_and_entry(tmp_path, edit, phrase):
    data = captions_only()
    edit(data)
    caps, images = make_caption_set(tmp_path, data)
    with raises_data_error("captions_train2017.json", phrase):
        CocoDataset(caps, images)


def test_captions_file_skip_bad(tmp_path):
    data = captions_only()
    data["annotations"].append({"id": 13, "image_id": 42, "caption": "Lost."})
    caps, images = make_caption_set(tmp_path, data)
    with pytest.warns(UserWarning, match="skipped 1 bad sample"):
        ds = CocoDataset(caps, images, skip_bad=True)
    assert len(ds) == 3 and "unknown image id 42" in str(ds.skipped.errors[0])


def test_instances_file_without_categories_is_still_refused(tmp_path):
    data = coco_data()
    del data["categories"]
    caps, images = make_caption_set(tmp_path, data)
    with raises_data_error("captions_train2017.json", "missing or non-list 'categories'"):
        CocoDataset(caps, images)


def test_coco_mini_captions_alone():
    root = shared("coco-mini")
    ds = CocoDataset(root / "annotations" / "captions_val2017.json", root / "val2017")
    assert ds.captions_only and ds.classes == ["background"]
    assert len(ds) == len(ds.coco_json["images"])
    s = ds[0]
    assert len(s.captions) >= 5 and s.boxes.shape == (0, 4) and s.image.shape[0] == 3
