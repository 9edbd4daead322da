"""YOLO datasets described by an Ultralytics ``data.yaml`` (issue 19): splits, list files, names."""

from pathlib import Path

import pytest
from fixtures import make_ultralytics, make_yolo, raises_data_error, write_image

from regionlab.data.errors import DataError
from regionlab.data.yolo import YoloDataset, read_class_names
from regionlab.data.yolo_yaml import label_path, parse_names, read_data_yaml


def test_data_yaml_train_and_val_splits(tmp_path):
    yaml = make_ultralytics(tmp_path)
    train = YoloDataset(yaml)
    assert train.split == "train" and train.source == str(yaml)
    assert train.classes == ["background", "cat", "hot dog"]
    assert [train[i].image_id for i in range(len(train))] == ["images/train/t0", "images/train/t1"]
    s = train[0]
    assert s.boxes.tolist() == [[10, 5, 30, 15]] and s.labels.tolist() == [2]
    assert train[1].boxes.shape == (0, 4)

    val = YoloDataset(yaml, split="val")
    assert len(val) == 1 and val[0].image_id == "images/val/v0"
    assert val[0].boxes.tolist() == [[0, 0, 8, 8]] and val[0].labels.tolist() == [1]


def test_data_yaml_root_elsewhere_and_list_files(tmp_path):
    """``path`` relative to the yaml; a split as a list of a folder and a list file."""
    make_ultralytics(tmp_path / "ds")
    (tmp_path / "ds" / "val.txt").write_text("./images/val/v0.png\n\n")
    yaml = tmp_path / "cfg" / "my.yaml"
    yaml.parent.mkdir()
    yaml.write_text("path: ../ds\ntrain: [images/train, val.txt]\nval: val.txt\nnames: [a, b]\n")
    ds = YoloDataset(yaml)
    assert [ds[i].image_id for i in range(len(ds))] == [
        "images/train/t0",
        "images/train/t1",
        "images/val/v0",
    ]
    assert ds.classes == ["background", "a", "b"]
    assert len(YoloDataset(yaml, split="val")) == 1


def test_data_yaml_roboflow_layout(tmp_path):
    """Roboflow's export: no ``path``, ``../train/images`` beside the yaml, labels beside."""
    for split, name in (("train", "r0"), ("valid", "r1")):
        write_image(tmp_path / split / "images" / f"{name}.png", 16, 16)
        (tmp_path / split / "labels").mkdir()
        (tmp_path / split / "labels" / f"{name}.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    yaml = tmp_path / "data.yaml"
    yaml.write_text("train: ../train/images\nval: ../valid/images\nnc: 1\nnames: ['thing']\n")
    assert YoloDataset(yaml)[0].image_id == "train/images/r0"
    assert YoloDataset(yaml, split="val")[0].boxes.tolist() == [[4, 4, 12, 12]]


def test_label_path_replaces_the_last_images_folder():
    assert label_path(Path("/d/images/x/images/a.jpg")) == Path("/d/images/x/labels/a.txt")
    assert label_path(Path("/d/pics/a.png")) == Path("/d/pics/a.txt")


def test_names_forms():
    assert parse_names(["a", "b"], None, "d.yaml") == ["a", "b"]
    assert parse_names({1: "b", 0: "a"}, 2, "d.yaml") == ["a", "b"]
    assert parse_names(None, 3, "d.yaml") == ["class0", "class1", "class2"]


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("train: images/train\nnames: [a]\nnc: 2\n", r"\(nc\): nc is 2 but names lists 1"),
        ("train: images/train\nnames: {0: a, 2: b}\n", r"\(names\): names must be indexed 0\.\.1"),
        ("train: images/train\nnames: a.txt\n", r"\(names\): names must be a list"),
        ("train: images/train\n", "neither 'names' nor 'nc'"),
        ("train: images/train\nnames: [a\n", r"\(line \d+, col \d+\): malformed YAML"),
        ("- just\n- a list\n", "top level must be a mapping"),
        ("train: images/nope\nnames: [a, b]\n", r"\(train: images/nope\): .* neither an image"),
        ("path: nowhere\ntrain: images/train\nnames: [a]\n", r"\(path\): dataset root"),
        ("train: 5\nnames: [a]\n", r"\(train\): train must be a folder"),
    ],
)
def test_bad_data_yaml_names_file_and_key(tmp_path, text, phrase):
    yaml = make_ultralytics(tmp_path, text)
    with raises_data_error("data.yaml", phrase):
        YoloDataset(yaml)


def test_missing_split_and_missing_label_folder(tmp_path):
    yaml = make_ultralytics(tmp_path)
    with raises_data_error("data.yaml", r"\(test\): has no 'test' split \(it gives: train, val\)"):
        YoloDataset(yaml, split="test")
    (tmp_path / "labels" / "val" / "v0.txt").unlink()
    (tmp_path / "labels" / "val").rmdir()
    with raises_data_error("data.yaml", "label folder .*labels/val does not exist"):
        YoloDataset(yaml, split="val")


def test_list_file_entries_are_checked(tmp_path):
    yaml = make_ultralytics(tmp_path, "train: list.txt\nnames: [a, b]\n")
    (tmp_path / "list.txt").write_text("images/train/t0.png\nimages/train/notes.md\n")
    with raises_data_error("list.txt", r"\(line 2\): 'images/train/notes.md' is not an image"):
        YoloDataset(yaml)
    (tmp_path / "list.txt").write_text("images/train/t0.png\n../../etc/passwd.png\n")
    with raises_data_error("list.txt", r"\(line 2\): .*points outside the dataset root"):
        YoloDataset(yaml)
    (tmp_path / "list.txt").write_text("images/train/t0.png\nimages/train/gone.png\n")
    with raises_data_error("list.txt", r"\(line 2\): image .*gone.png does not exist"):
        YoloDataset(yaml)


def test_orphan_label_in_a_split_folder(tmp_path):
    yaml = make_ultralytics(tmp_path)
    (tmp_path / "labels" / "train" / "lost.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    with raises_data_error("lost.txt", "no image for this label file"):
        YoloDataset(yaml)
    with pytest.warns(UserWarning, match="skipped 1 bad sample"):
        assert len(YoloDataset(yaml, skip_bad=True)) == 2


def test_folder_reader_refuses_split_and_hints_at_the_yaml(tmp_path):
    root = make_yolo(tmp_path)
    with pytest.raises(DataError, match="needs an Ultralytics data.yaml"):
        YoloDataset(root, split="val")
    make_ultralytics(tmp_path / "u")
    (tmp_path / "u" / "images").rename(tmp_path / "u" / "pictures")
    with raises_data_error("images", "image folder does not exist; .*data.yaml may list"):
        YoloDataset(tmp_path / "u")


def test_folder_names_from_data_yaml_use_a_real_parser(tmp_path):
    """Flow-style mappings and quoted names with '#' were beyond the old line-regex reader."""
    root = make_yolo(tmp_path)
    (root / "classes.txt").unlink()
    (root / "data.yaml").write_text("names: {0: 'cat #1', 1: dog}\n")
    assert read_class_names(root) == ["cat #1", "dog"]
    assert read_data_yaml(root / "data.yaml").splits == {}
