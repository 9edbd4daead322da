"""Data a user already has, through data specs and the commands (issue 19): a YOLO ``data.yaml``
(train split to training, val split to validation and eval) and a COCO captions file alone (a
caption set for ``train caption``/``align`` and ``eval``)."""

from argparse import Namespace

import pytest
from fixtures import captions_only, make_caption_set, make_ultralytics, make_yolo

from regionlab.cli.main import main
from regionlab.cli.prepare import split
from regionlab.cli.specs import SpecError, has_own_val, open_dataset, parse_spec
from regionlab.data.yolo import YoloDataset


def test_yolo_spec_reads_the_yaml_splits(tmp_path):
    """Once ``yolo:data.yaml`` was "data.yaml/images: image folder does not exist"."""
    yaml = make_ultralytics(tmp_path)
    spec = f"yolo:{yaml}"
    train = open_dataset(spec)
    assert isinstance(train, YoloDataset) and train.split == "train" and len(train) == 2
    val = open_dataset(spec, split="val")  # what eval and validation open
    assert val.split == "val" and len(val) == 1
    assert open_dataset(f"{spec}:split=val").split == "val"  # the spec's own choice wins
    assert open_dataset(f"{spec}:split=train", split="val").split == "train"
    # a bare data.yaml is a YOLO dataset, as Ultralytics' data=data.yaml
    assert parse_spec(f"{yaml}:split=val") == ("yolo", [str(yaml)], {"split": "val"})
    assert open_dataset(str(yaml), split="val").split == "val" and has_own_val(str(yaml))


def test_split_option_needs_a_yaml(tmp_path):
    root = make_yolo(tmp_path)
    with pytest.raises(SpecError, match="split= takes a data.yaml"):
        open_dataset(f"yolo:{root}:split=val")
    assert len(open_dataset(f"yolo:{root}", split="val")) == 2  # a folder has no splits


def test_has_own_val(tmp_path):
    yaml = make_ultralytics(tmp_path)
    assert has_own_val(f"yolo:{yaml}") and has_own_val("scenes:size=32,n=4")
    assert not has_own_val(f"yolo:{yaml}:split=train")  # validating on it would be training data
    assert not has_own_val(f"yolo:{make_yolo(tmp_path / 'folder')}")
    no_val = tmp_path / "train_only.yaml"
    no_val.write_text("train: images/train\nnames: [a, b]\n")
    assert not has_own_val(f"yolo:{no_val}")


def test_val_defaults_to_the_yaml_val_split(tmp_path, capsys):
    yaml = make_ultralytics(tmp_path)
    train_set = open_dataset(f"yolo:{yaml}")
    args = Namespace(val=None, data=f"yolo:{yaml}", val_fraction=0.5, seed=0)
    tr, va = split(train_set, args)
    assert tr is train_set and len(tr) == 2  # nothing held out of the training split
    assert va.split == "val" and [va[i].image_id for i in range(len(va))] == ["images/val/v0"]
    assert "holding out" not in capsys.readouterr().out


def test_coco_captions_spec_is_a_caption_set(tmp_path):
    caps, images = make_caption_set(tmp_path)
    ds = open_dataset(f"coco:{caps}:{images}")
    assert ds.captions_only and ds.classes == ["background"] and len(ds) == 3


@pytest.mark.parametrize("task", ["caption", "align"])
def test_train_and_eval_on_a_captions_file_alone(tmp_path, task):
    every = captions_only()
    every["annotations"].append({"id": 13, "image_id": 2, "caption": "Small noise."})
    caps, images = make_caption_set(tmp_path, every)
    data = f"coco:{caps}:{images}"
    run = tmp_path / "run"
    args = ["train", task, "--data", data, "--val", data, "--size", "32"]
    args += ["--embed", "8", "--hidden", "16", "--batch-size", "2", "--epochs", "1"]
    args += ["--threads", "1", "--out", str(run)]
    assert main(args) == 0
    assert main(["eval", str(run / "best.pt"), "--data", data]) == 0
