import copy

import numpy as np
import pytest
import torch
from fixtures import (
    coco_data,
    make_coco,
    raises_data_error,
    shared,
    write_image,
    write_json,
)

from regionlab.data.coco import CocoDataset
from regionlab.data.sample import IGNORE_INDEX


def _box_mask(h, w, rows, cols):
    m = torch.zeros((h, w), dtype=torch.bool)
    m[rows, cols] = True
    return m


def test_coco_reads_boxes_masks_keypoints_captions(tmp_path):
    ann, images, caps = make_coco(tmp_path)
    ds = CocoDataset(ann, images, captions_file=caps)

    assert ds.classes == ["background", "person", "cat"]
    assert ds.label_to_cat_id == {1: 1, 2: 3}
    assert ds.image_ids == [10, 11, 12] and len(ds) == 3
    assert ds.num_keypoints == 2 and ds.source == str(ann)
    assert ds.coco_json["images"][0]["file_name"] == "a.png"

    s = ds[0]
    assert s.image_id == 10 and s.path.endswith("a.png")
    assert s.image.shape == (3, 24, 32) and s.image.dtype == torch.uint8
    assert torch.equal(
        s.boxes, torch.tensor([[2, 2, 10, 12], [6, 6, 14, 10], [20, 20, 22, 24], [8, 8, 14, 14]],
                              dtype=torch.float32)
    )  # fmt: skip
    assert s.labels.tolist() == [1, 2, 2, 1]
    assert s.iscrowd.tolist() == [False, False, False, True]
    # Polygons cover the pixels whose centres lie inside; RLE as written.
    expected = [
        _box_mask(24, 32, slice(2, 12), slice(2, 10)),
        _box_mask(24, 32, slice(6, 10), slice(6, 14)),
        _box_mask(24, 32, slice(20, 24), slice(20, 22)),
        _box_mask(24, 32, slice(8, 14), slice(8, 14)),
    ]
    assert s.masks.dtype == torch.bool and torch.equal(s.masks, torch.stack(expected))
    semantic = torch.zeros((24, 32), dtype=torch.int64)
    semantic[2:12, 2:10] = 1
    semantic[6:10, 6:14] = 2  # the later cat is drawn over the person
    semantic[20:24, 20:22] = 2
    semantic[8:14, 8:14] = IGNORE_INDEX  # crowd wins
    assert torch.equal(s.semantic, semantic)
    kps = torch.zeros((4, 2, 3))
    kps[0] = torch.tensor([[3, 4, 2], [0, 0, 0]])
    assert torch.equal(s.keypoints, kps)
    assert s.captions == ["A person and two cats.", "Random pixels."]

    empty = ds[1]
    assert empty.boxes.shape == (0, 4) and empty.labels.shape == (0,)
    assert empty.masks.shape == (0, 16, 16) and empty.keypoints.shape == (0, 2, 3)
    assert torch.equal(empty.semantic, torch.zeros((16, 16), dtype=torch.int64))
    assert empty.captions == ["Nothing at all."]

    clipped = ds[2]
    assert clipped.boxes.tolist() == [[0, 1, 5, 5]]  # x = -0.5 clipped (within 1 px tolerance)
    assert torch.equal(clipped.masks[0], _box_mask(16, 20, slice(1, 5), slice(0, 5)))
    assert clipped.keypoints.tolist() == [[[1, 2, 1], [4, 4, 2]]]
    assert clipped.captions == []


def test_coco_image_pixels_and_options(tmp_path):
    ann, images, _ = make_coco(tmp_path)
    pixels = write_image(images / "a.png", 24, 32, seed=7)
    ds = CocoDataset(ann, images, keypoints=False)
    assert torch.equal(ds[0].image, torch.from_numpy(pixels).permute(2, 0, 1))
    assert ds.num_keypoints == 0 and ds[0].keypoints is None

    # An instances file without keypoint names gives no keypoints; a box-only file no masks.
    data = coco_data()
    data["categories"][1].pop("keypoints")
    for a in data["annotations"]:
        a.pop("segmentation")
    ds = CocoDataset(write_json(tmp_path / "boxes.json", data), images)
    assert ds.num_keypoints == 0 and not ds.has_masks
    s = ds[0]
    assert s.keypoints is None and s.masks is None and s.semantic is None
    assert s.boxes.shape == (4, 4)


def _edit(path, value):
    """Return an edit function setting ``data[path...] = value``."""

    def apply(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return apply


BAD_CASES = {
    "missing image": (
        lambda d: d["images"].append({"id": 13, "file_name": "gone.png"}),
        r"image id 13.*gone\.png does not exist",
    ),
    "unknown image id": (
        lambda d: d["annotations"].append(
            {"id": 7, "image_id": 999, "category_id": 1, "bbox": [0, 0, 1, 1]}
        ),
        r"annotation id 7.*unknown image id 999",
    ),
    "box outside": (_edit(["annotations", 2, "bbox"], [20, 20, 14, 4]), "outside the 32x24 image"),
    "non-positive box": (_edit(["annotations", 0, "bbox"], [2, 2, 0, 10]), "non-positive width"),
    "non-finite box": (_edit(["annotations", 0, "bbox"], [2, 2, float("nan"), 3]), "non-finite"),
    "bbox not 4 numbers": (_edit(["annotations", 0, "bbox"], [2, 2, 3]), "bbox must be a list"),
    "image size differs": (_edit(["images", 0, "height"], 30), r"is 32x24 but the file says 32x30"),
    "RLE size differs": (
        _edit(["annotations", 2, "segmentation", "size"], [10, 10]),
        r"RLE size \[10, 10\] differs from the image size \[24, 32\]",
    ),
    "RLE counts": (
        _edit(["annotations", 2, "segmentation", "counts"], [5, 3]),
        "summing to H\\*W = 768",
    ),
    "compressed RLE garbage": (
        _edit(["annotations", 3, "segmentation", "counts"], "9"),
        "cannot decode segmentation",
    ),
    "unknown category": (_edit(["annotations", 0, "category_id"], 42), "unknown category id 42"),
    "short polygon": (
        _edit(["annotations", 0, "segmentation"], [[2, 2, 10, 2]]),
        "polygon 0 needs at least 3",
    ),
    "keypoint count": (_edit(["annotations", 0, "keypoints"], [1, 2, 2]), "list of 6 numbers"),
    "keypoint NaN": (
        _edit(["annotations", 0, "keypoints"], [1, float("nan"), 2, 4, 4, 2]),
        "non-finite",
    ),
    "keypoint visibility flag": (
        _edit(["annotations", 0, "keypoints"], [1, 2, 2, 4, 4, 3]),
        "keypoint 1 has visibility 3",
    ),
    "keypoints not numbers": (
        _edit(["annotations", 0, "keypoints"], [1, 2, 2, 4, "x", 2]),
        "keypoints",
    ),
    "negative area": (_edit(["annotations", 0, "area"], -3), "area must be >= 0, got -3"),
    "area not a number": (_edit(["annotations", 0, "area"], "big"), "area must be a list"),
    "escaping root": (
        _edit(["images", 1, "file_name"], "../../outside.png"),
        "points outside the dataset root",
    ),
    "duplicate image id": (_edit(["images", 1, "id"], 10), "duplicate image id 10"),
    "duplicate category id": (_edit(["categories", 0, "id"], 1), "duplicate category id 1"),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_coco_bad_annotations_raise(tmp_path, case):
    edit, phrase = BAD_CASES[case]
    data = copy.deepcopy(coco_data())
    edit(data)
    ann, images, _ = make_coco(tmp_path, data)
    with raises_data_error("instances.json", phrase):
        CocoDataset(ann, images)


def test_coco_malformed_json_names_line(tmp_path):
    ann, images, _ = make_coco(tmp_path)
    ann.write_text('{"images": [\n  {"id": 1,, }]}')
    with raises_data_error("instances.json", r"\(line 2, col 12\): malformed JSON"):
        CocoDataset(ann, images)
    ann.write_bytes(b'{"images": "\xff"}')
    with raises_data_error("instances.json", "not valid UTF-8"):
        CocoDataset(ann, images)
    with raises_data_error("nope.json", "does not exist"):
        CocoDataset(tmp_path / "nope.json", images)


def test_coco_caption_for_unknown_image(tmp_path):
    ann, images, caps = make_coco(tmp_path)
    write_json(caps, {"annotations": [{"image_id": 5, "caption": "x"}]})
    with raises_data_error("captions.json", "unknown image id 5"):
        CocoDataset(ann, images, captions_file=caps)


def test_coco_outside_root_allowed_when_asked(tmp_path):
    data = coco_data()
    data["images"][1]["file_name"] = "../outside.png"
    ann, images, _ = make_coco(tmp_path, data)
    write_image(tmp_path / "outside.png", 16, 16)
    ds = CocoDataset(ann, images, allow_outside_root=True)
    assert ds[1].path == str(tmp_path / "outside.png")


def test_coco_skip_bad_reports_every_problem(tmp_path):
    data = coco_data()
    data["annotations"][0]["category_id"] = 42  # spoils image 10
    data["images"].append({"id": 13, "file_name": "gone.png"})
    data["annotations"].append({"id": 9, "image_id": 999, "category_id": 1, "bbox": [0, 0, 1, 1]})
    ann, images, _ = make_coco(tmp_path, data)
    with pytest.warns(UserWarning, match="skipped 3 bad sample") as record:
        ds = CocoDataset(ann, images, skip_bad=True)
    assert len(record) == 1
    assert ds.image_ids == [11, 12] and len(ds) == 2
    assert ds.skipped.count == 3
    messages = "\n".join(str(e) for e in ds.skipped.errors)
    for phrase in ("unknown image id 999", "unknown category id 42", "gone.png does not exist"):
        assert phrase in messages
    assert ds[1].boxes.tolist() == [[0, 1, 5, 5]]


def test_coco_mini_real_data():
    root = shared("coco-mini")
    ann_dir = root / "annotations"
    ds = CocoDataset(
        ann_dir / "instances_val2017.json",
        root / "val2017",
        captions_file=ann_dir / "captions_val2017.json",
    )
    assert len(ds) == len(ds.coco_json["images"]) and len(ds.classes) == 81
    for i in range(2):
        s = ds[i]
        h, w = s.size
        n = len(s.labels)
        assert s.masks.shape == (n, h, w) and s.boxes.shape == (n, 4) and n > 0
        assert bool((s.boxes[:, 2] <= w).all() and (s.boxes[:, 3] <= h).all())
        assert s.semantic.shape == (h, w) and len(s.captions) >= 5
        assert np.all(s.masks.flatten(1).any(1).numpy())  # every decoded mask is non-empty
    kp = CocoDataset(ann_dir / "person_keypoints_val2017.json", root / "val2017")
    assert kp.num_keypoints == 17 and kp.classes == ["background", "person"]
    s = kp[0]
    assert s.keypoints.shape == (len(s.labels), 17, 3)


def test_one_annotation_without_a_segmentation_is_named(tmp_path):
    data = coco_data()
    del data["annotations"][1]["segmentation"]  # id 101, image 10
    ann, images, _ = make_coco(tmp_path, data)
    with pytest.warns(UserWarning, match=r"1 of 5 annotations have no segmentation \(the first: "
                      r"annotation id 101, image id 10\)"):  # fmt: skip
        ds = CocoDataset(ann, images)
    assert not ds.has_masks and ds[0].masks is None


def test_coco_keeps_each_annotation_s_stated_area_as_pycocotools_reads_it(tmp_path):
    """COCO's size split reads the file's ``area`` (a polygon's, not its box's): kept exactly
    (float64); one an annotation does not state is its mask's pixels, as for a file with none."""
    data = coco_data()
    data["annotations"][0]["area"] = 1024.000001  # person, box 8x10
    data["annotations"][2]["area"] = 7  # cat as RLE: 8 pixels
    ann, images, _ = make_coco(tmp_path, data)
    s = CocoDataset(ann, images)[0]
    assert s.area.dtype == torch.float64
    pixels = s.masks.flatten(1).sum(1).tolist()
    assert s.area.tolist() == [1024.000001, pixels[1], 7.0, pixels[3]]
    assert s.object_areas() is s.area
    bare = CocoDataset(*make_coco(tmp_path / "none")[:2])[0]  # no area stated
    assert bare.area is None and bare.object_areas().tolist() == pixels
