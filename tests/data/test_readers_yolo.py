import shutil

import pytest
import torch
from fixtures import make_yolo, raises_data_error, shared

from regionlab.data.voc import VocDataset
from regionlab.data.yolo import YoloDataset, read_class_names


def test_yolo_reads_boxes_and_unlabelled_images(tmp_path):
    ds = YoloDataset(make_yolo(tmp_path))
    assert ds.classes == ["background", "cat", "dog"] and len(ds) == 2
    assert ds.source == str(tmp_path / "labels")

    a = ds[0]
    assert a.image.shape == (3, 20, 40) and a.image_id == "train/a"
    # (cx, cy, w, h) normalised by W=40, H=20 -> xyxy pixels
    assert a.boxes.tolist() == [[10, 5, 30, 15], [0, 0, 20, 10]]
    assert a.labels.tolist() == [1, 2]  # YOLO class c -> label c + 1

    b = ds[1]  # no label file: an image without objects, not an error
    assert b.image_id == "train/b" and b.boxes.shape == (0, 4) and b.labels.shape == (0,)


def test_yolo_class_names_sources(tmp_path):
    root = make_yolo(tmp_path)
    assert YoloDataset(root, classes=["x", "y", "z"]).classes == ["background", "x", "y", "z"]
    (root / "classes.txt").unlink()
    assert YoloDataset(root).classes == ["background", "class0", "class1"]

    yaml = root / "data.yaml"
    yaml.write_text("path: .\nnames: [cat, 'hot dog']  # two\nnc: 2\n")
    assert read_class_names(root) == ["cat", "hot dog"]
    yaml.write_text('names:\n  0: cat\n  1: "dog"\ntrain: images\n')
    assert read_class_names(root) == ["cat", "dog"]
    yaml.write_text("names:\n  - cat\n  - dog\n")
    assert YoloDataset(root).classes == ["background", "cat", "dog"]
    yaml.write_text("names: names.txt\n")
    with pytest.warns(UserWarning, match="not in a simple form"):
        assert read_class_names(root) is None


BAD_LINES = {
    "field count": ("0 0.5 0.5 0.5", "expected 5 fields"),
    "not a number": ("0 0.5 abc 0.5 0.5", "not a number"),
    "float class": ("1.0 0.5 0.5 0.5 0.5", "not a number"),
    "outside 0..1": ("0 1.5 0.5 0.1 0.1", r"outside 0\.\.1"),
    "non-finite": ("0 nan 0.5 0.5 0.5", "non-finite"),
    "non-positive": ("0 0.5 0.5 0 0.5", "non-positive width or height"),
    "box past the edge": ("0 0.1 0.5 0.5 0.5", "outside the 40x20 image"),
    "class id": ("5 0.5 0.5 0.5 0.5", "class id 5 is not below the number of classes 2"),
}


@pytest.mark.parametrize("case", list(BAD_LINES))
def test_yolo_bad_label_line_raises(tmp_path, case):
    line, phrase = BAD_LINES[case]
    root = make_yolo(tmp_path)
    (root / "labels" / "train" / "a.txt").write_text(f"0 0.5 0.5 0.5 0.5\n{line}\n")
    with raises_data_error("a.txt", rf"\(line 2\): .*{phrase}"):
        YoloDataset(root)


def test_yolo_missing_image_or_folder(tmp_path):
    root = make_yolo(tmp_path)
    (root / "labels" / "train" / "gone.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    with raises_data_error("gone.txt", "no image for this label file"):
        YoloDataset(root)
    with raises_data_error("lbls", "label folder does not exist"):
        YoloDataset(root, labels="lbls")


def test_yolo_skip_bad(tmp_path):
    root = make_yolo(tmp_path)
    (root / "labels" / "train" / "a.txt").write_text("7 0.5 0.5 0.5 0.5\n")
    with pytest.warns(UserWarning, match="skipped 1 bad sample"):
        ds = YoloDataset(root, skip_bad=True)
    assert ds.skipped.count == 1 and len(ds) == 1 and ds[0].image_id == "train/b"
    assert "a.txt (line 1): class id 7" in str(ds.skipped.errors[0])


def test_yolo_on_real_raccoon_images(tmp_path):
    """No YOLO dataset is shared: write YOLO labels for two raccoon images from their VOC boxes."""
    voc = VocDataset(shared("raccoon"), images="images", annotations="annotations")
    (tmp_path / "labels").mkdir()
    (tmp_path / "images").mkdir()
    expected = []
    for i in range(2):
        s = voc[i]
        h, w = s.size
        shutil.copy(s.path, tmp_path / "images" / f"{s.image_id}.jpg")
        lines = []
        for x1, y1, x2, y2 in s.boxes.tolist():
            lines.append(
                f"0 {(x1 + x2) / 2 / w} {(y1 + y2) / 2 / h} {(x2 - x1) / w} {(y2 - y1) / h}"
            )
        (tmp_path / "labels" / f"{s.image_id}.txt").write_text("\n".join(lines))
        expected.append(s)
    ds = YoloDataset(tmp_path, classes=["raccoon"])
    by_id = {ds[i].image_id: ds[i] for i in range(len(ds))}
    for s in expected:
        y = by_id[s.image_id]
        assert y.image.shape == s.image.shape and y.labels.tolist() == s.labels.tolist()
        assert torch.allclose(y.boxes, s.boxes, atol=1e-3)


def test_yolo_labels_nowhere_to_be_found_is_an_error_not_a_set_of_negatives(tmp_path):
    root = make_yolo(tmp_path)
    (root / "labels" / "train" / "a.txt").rename(root / "labels" / "a.txt")  # one level up
    with raises_data_error("labels", r"none of the 2 images has a label file .*train/a\.txt"):
        YoloDataset(root)


def test_yolo_classes_txt_where_labelimg_writes_it(tmp_path):
    root = make_yolo(tmp_path)
    (root / "classes.txt").unlink()
    (root / "labels" / "classes.txt").write_text("cat\ndog\nbird\n")
    assert YoloDataset(root).classes == ["background", "cat", "dog", "bird"]
    (root / "labels" / "classes.txt").write_bytes(b"cat\n\xff\xfe\n")
    with raises_data_error("classes.txt", "not valid UTF-8"):
        YoloDataset(root)


def test_two_images_sharing_one_label_file_are_refused(tmp_path):
    from fixtures import write_image

    root = make_yolo(tmp_path)
    write_image(root / "images" / "train" / "a.jpg", 20, 40, seed=4)
    with raises_data_error("a.txt", r"two images share this label file: .*a\.jpg and .*a\.png"):
        YoloDataset(root)
