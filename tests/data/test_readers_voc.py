from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures import VOC_SEMANTIC, make_voc, raises_data_error, shared, voc_xml, write_index_png

from regionlab.data.sample import IGNORE_INDEX
from regionlab.data.voc import VocDataset


def test_voc_reads_boxes_difficult_and_semantic(tmp_path):
    ds = VocDataset(make_voc(tmp_path))
    assert ds.classes == ["background", "cat", "dog"]
    assert ds.image_ids == ["a", "b", "c"] and ds.skipped.count == 0
    assert ds.source == str(tmp_path / "Annotations")

    a = ds[0]
    assert a.image.shape == (3, 24, 32) and a.image_id == "a"
    # 1-based inclusive bndbox (xmin, ymin, xmax, ymax) -> (xmin-1, ymin-1, xmax, ymax)
    assert a.boxes.tolist() == [[0, 0, 10, 8], [4, 5, 20, 16]]
    assert a.labels.tolist() == [2, 1]
    assert a.iscrowd.tolist() == [False, True]  # difficult objects are flagged to be ignored
    assert torch.equal(a.semantic, torch.from_numpy(VOC_SEMANTIC.astype(np.int64)))
    assert a.semantic[4, 0] == IGNORE_INDEX and a.masks is None

    b = ds[1]
    assert b.boxes.tolist() == [[1, 2, 16, 16]] and b.labels.tolist() == [1]
    assert b.semantic is None

    c = ds[2]  # <filename> says wrong.jpg: found by the XML's stem instead
    assert c.path.endswith("c.png") and c.image.shape == (3, 20, 20)
    assert c.boxes.tolist() == [[0, 0, 20, 20]]


def test_voc_split_and_classes(tmp_path):
    root = make_voc(tmp_path)
    assert VocDataset(root, split="train").image_ids == ["b", "c"]
    (tmp_path / "mine.txt").write_text("a  1\n")
    assert VocDataset(root, split=tmp_path / "mine.txt").image_ids == ["a"]
    ds = VocDataset(root, classes=["dog", "cat"])
    assert ds.classes == ["background", "dog", "cat"] and ds[0].labels.tolist() == [1, 2]
    with raises_data_error("a.xml", "unknown class name 'cat'"):
        VocDataset(root, classes=["dog"])
    with raises_data_error("nosplit.txt", "split 'nosplit' not found"):
        VocDataset(root, split="nosplit")


def _write(root, name, text):
    path = root / "Annotations" / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))


BAD_XML = {
    "missing image": ("d.xml", voc_xml("d.png", None, []), r"image file for <filename> 'd.png'"),
    "box outside": ("a.xml", voc_xml("a.png", None, [("cat", 1, 1, 40, 8)]), "outside the 32x24"),
    "non-positive box": ("a.xml", voc_xml("a.png", None, [("cat", 10, 1, 8, 8)]), "non-positive"),
    "not a number": ("a.xml", voc_xml("a.png", None, [("cat", "x", 1, 8, 8)]), "<xmin> must be"),
    "size differs": ("a.xml", voc_xml("a.png", (30, 24), []), "<size> says 30x24 but image a.png"),
    "escaping root": ("a.xml", voc_xml("../../a.png", None, []), "outside the dataset root"),
    "malformed": (
        "a.xml",
        "<annotation><filename>a.png</filename>\n<object></annotation>",
        r"\(line 2, col \d+\): malformed XML",
    ),
    "not utf-8": ("a.xml", b"<annotation><filename>\xe9.png</filename></annotation>", "UTF-8"),
    "entity": (
        "a.xml",
        '<!DOCTYPE a [<!ENTITY x "y">]><annotation><filename>&x;</filename></annotation>',
        "entity declarations are not allowed",
    ),
}


@pytest.mark.parametrize("case", list(BAD_XML))
def test_voc_bad_xml_raises(tmp_path, case):
    name, text, phrase = BAD_XML[case]
    root = make_voc(tmp_path)
    _write(root, name, text)
    with raises_data_error(name, phrase):
        VocDataset(root)


def test_voc_segmentation_checks(tmp_path):
    root = make_voc(tmp_path)
    write_index_png(root / "SegmentationClass" / "a.png", np.zeros((10, 10)))
    with raises_data_error("a.png", "mask is 10x10 but image a.png is 32x24"):
        VocDataset(root)
    write_index_png(root / "SegmentationClass" / "a.png", np.full((24, 32), 7))
    ds = VocDataset(root)  # index values need decoding: checked when the item is read
    with raises_data_error("a.png", "class index 7 is not below the number of classes 3"):
        ds[0]


def test_voc_skip_bad_reports(tmp_path):
    root = make_voc(tmp_path)
    _write(root, "d.xml", voc_xml("d.png", None, []))
    _write(root, "a.xml", voc_xml("a.png", None, [("cat", 1, 1, 40, 8)]))
    with pytest.warns(UserWarning, match="skipped 2 bad sample"):
        ds = VocDataset(root, skip_bad=True)
    assert ds.skipped.count == 2 and ds.image_ids == ["b", "c"]
    assert [Path(e.path).name for e in ds.skipped.errors] == ["a.xml", "d.xml"]


def test_voc_raccoon_real_data():
    ds = VocDataset(shared("raccoon"), images="images", annotations="annotations")
    assert ds.classes == ["background", "raccoon"] and len(ds) == 200
    for i in range(2):
        s = ds[i]
        h, w = s.size
        assert s.image.shape == (3, h, w) and s.boxes.shape[1] == 4 and len(s.labels) >= 1
        assert (s.labels == 1).all() and bool((s.boxes[:, 2:] <= torch.tensor([w, h])).all())


def test_voc_csv_split_lists_unique_filenames(tmp_path):
    root = make_voc(tmp_path)
    (root / "split.csv").write_text(
        "filename,width,class\nb.png,16,cat\na.jpg,32,dog\nb.png,16,cat\n", encoding="utf-8"
    )
    ds = VocDataset(root, split="split.csv")  # relative to the root
    assert ds.image_ids == ["b", "a"]
    (root / "bad.csv").write_text("name,width\nb.png,16\n", encoding="utf-8")
    with raises_data_error("bad.csv", "needs a header with a 'filename' column"):
        VocDataset(root, split="bad.csv")
    (root / "gone.csv").write_text("filename\nb.png\nzz.png\n", encoding="utf-8")
    with raises_data_error("gone.csv", r"\(line 3\): names 'zz'"):
        VocDataset(root, split="gone.csv")


def test_voc_raccoon_csv_split_is_160_40():
    root = shared("raccoon")
    kw = {"images": "images", "annotations": "annotations"}
    train = VocDataset(root, split="data/train_labels.csv", **kw)
    test = VocDataset(root, split="data/test_labels.csv", **kw)
    assert (len(train), len(test)) == (160, 40)
    assert not set(train.image_ids) & set(test.image_ids)


def test_voc_difficult_written_as_a_word(tmp_path):
    root = make_voc(tmp_path)
    objects = [("dog", 1, 1, 10, 8, "false"), ("cat", 5, 6, 20, 16, "true"), ("cat", 2, 2, 9, 9)]
    (root / "Annotations" / "a.xml").write_text(voc_xml("a.png", (32, 24), objects))
    assert VocDataset(root)[0].iscrowd.tolist() == [False, True, False]


def test_one_class_name_in_a_spec_is_a_list_of_one_not_of_letters(tmp_path):
    from regionlab.api.specs import open_dataset

    root = make_voc(tmp_path)
    for xml in (root / "Annotations").glob("*.xml"):
        xml.write_text(xml.read_text().replace("<name>cat</name>", "<name>dog</name>"))
    assert open_dataset(f"voc:{root}:classes=dog").classes == ["background", "dog"]
