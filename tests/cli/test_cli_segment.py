"""``regionlab train segment`` on sets with few or no class maps: a box-only set stops before
training with a message saying what is missing and where to get it."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from regionlab.cli.main import main

sys.path.insert(0, str(Path(__file__).parents[1] / "data"))
from fixtures import voc_xml, write_image, write_index_png  # noqa: E402

TINY = ["--widths", "8,16", "--batch-size", "2", "--threads", "1", "--epochs", "1"]
DET = ["--widths", "8,16,32,64", "--depths", "0,1,1", "--strides", "4,8,16", *TINY[2:]]


def _voc(root: Path, n: int = 4, maps: tuple[int, ...] = ()) -> Path:
    """``n`` 32x32 images with one cat box each; class-index PNGs only for those in ``maps``."""
    (root / "Annotations").mkdir(parents=True)
    (root / "SegmentationClass").mkdir()
    for i in range(n):
        write_image(root / "JPEGImages" / f"im{i}.jpg", 32, 32, seed=i)
        xml = voc_xml(f"im{i}.jpg", (32, 32), [("cat", 4, 4, 20, 24)])
        (root / "Annotations" / f"im{i}.xml").write_text(xml)
        if i in maps:
            sem = np.zeros((32, 32), dtype=np.uint8)
            sem[4:24, 4:20] = 1
            write_index_png(root / "SegmentationClass" / f"im{i}.png", sem)
    return root


def test_a_box_only_set_stops_before_training_naming_the_readers_with_maps(tmp_path, capsys):
    root = _voc(tmp_path / "voc")
    run = tmp_path / "run"
    for weights in ("median_freq", "none"):
        args = ["train", "segment", "--data", f"voc:{root}", "--out", str(run), *TINY]
        assert main([*args, "--class-weights", weights, "--size", "32"]) == 2
        err = capsys.readouterr().err
        assert f"voc:{root}" in err and "no class map" in err, err
        assert "SegmentationClass" in err and "masks:LIST.txt" in err, err
        assert not (run / "metrics.jsonl").exists()


def test_samples_without_a_class_map_train_as_ignored_pixels(tmp_path, capsys):
    root = _voc(tmp_path / "voc", n=4, maps=(2, 3))  # the first samples have no map
    run = tmp_path / "run"
    args = ["train", "segment", "--data", f"voc:{root}", "--val", f"voc:{root}", *TINY]
    assert main([*args, "--out", str(run), "--size", "32"]) == 0
    assert "class weights (median frequency)" in capsys.readouterr().out
    assert (run / "metrics.json").exists()


def test_validation_classes_must_be_training_s(tmp_path, capsys):
    """A VOC split names its classes from its own files: without "cat" in the val split, its
    "dog" would be label 1, training's "cat"; refused before training, not scored wrong."""
    train = _voc(tmp_path / "train")
    xml = train / "Annotations" / "im0.xml"
    xml.write_text(xml.read_text().replace("<name>cat</name>", "<name>dog</name>"))
    val = _voc(tmp_path / "val", n=2)
    for xml in (val / "Annotations").glob("*.xml"):
        xml.write_text(xml.read_text().replace("<name>cat</name>", "<name>dog</name>"))
    run = tmp_path / "run"
    args = ["train", "detect", "--data", f"voc:{train}", "--val", f"voc:{val}", *DET]
    assert main([*args, "--out", str(run), "--size", "32"]) != 0
    err = capsys.readouterr().err
    assert "['background', 'dog']" in err and "['background', 'cat', 'dog']" in err, err
    assert not (run / "metrics.jsonl").exists()


def test_a_data_yaml_s_own_val_split_is_checked_before_training(tmp_path, capsys):
    from fixtures import make_ultralytics

    yaml = make_ultralytics(tmp_path / "yolo")
    v0 = tmp_path / "yolo" / "images" / "val" / "v0.png"
    v0.write_bytes(v0.read_bytes()[:-40])  # the header reads, the pixels do not
    run = tmp_path / "run"
    args = ["train", "detect", "--data", str(yaml), "--out", str(run), *DET, "--size", "32"]
    assert main(args) != 0
    err = capsys.readouterr().err
    assert "v0.png" in err, err
    assert not (run / "metrics.jsonl").exists()  # stopped before the first step
