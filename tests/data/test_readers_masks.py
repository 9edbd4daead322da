import numpy as np
import pytest
import torch
from fixtures import (
    MASK_A,
    make_mask_folder,
    raises_data_error,
    shared,
    write_image,
    write_index_png,
)

from regionlab.data.masks import CAMVID_CLASSES, MaskFolderDataset, camvid
from regionlab.data.sample import IGNORE_INDEX


def test_mask_folder_reads_semantic_with_ignore(tmp_path):
    lst = make_mask_folder(tmp_path)
    ds = MaskFolderDataset(lst, num_classes=3, ignore_index=11)
    assert ds.classes == ["class0", "class1", "class2"] and ds.num_classes == 3
    assert len(ds) == 2 and ds.source == str(lst)

    a = ds[0]
    expected = torch.from_numpy(np.tile(MASK_A, (4, 1)).astype(np.int64))
    expected[expected == 11] = IGNORE_INDEX
    assert torch.equal(a.semantic, expected) and a.semantic.dtype == torch.int64
    assert a.image.shape == (3, 16, 16) and a.image_id == "train/a.png"
    assert a.boxes.shape == (0, 4) and a.labels.shape == (0,) and a.masks is None
    assert (ds[1].semantic == 2).all()

    named = MaskFolderDataset(lst, classes=["sky", "road", "car"], ignore_index=11)
    assert named.classes == ["sky", "road", "car"]


def test_mask_folder_class_out_of_range_names_file_and_value(tmp_path):
    lst = make_mask_folder(tmp_path)
    ds = MaskFolderDataset(lst, num_classes=3)  # no ignore_index: 11 is out of range
    with raises_data_error("a.png", r"class index 11 is not in 0..2"):
        ds[0]
    write_index_png(tmp_path / "trainannot" / "b.png", np.full((16, 16), 7))
    with raises_data_error("b.png", "class index 7"):
        MaskFolderDataset(lst, num_classes=3, ignore_index=11, skip_bad=True)[1]


BAD_LINES = {
    "one field": ("train/a.png\n", r"\(line 1\): expected 2 fields"),
    "missing image": ("train/zz.png trainannot/a.png\n", r"line 1.*zz\.png does not exist"),
    "missing mask": ("train/a.png trainannot/zz.png\n", r"zz\.png does not exist"),
    "escaping root": ("../../a.png trainannot/a.png\n", "outside the dataset root"),
}


@pytest.mark.parametrize("case", list(BAD_LINES))
def test_mask_folder_bad_list_raises(tmp_path, case):
    text, phrase = BAD_LINES[case]
    lst = make_mask_folder(tmp_path)
    lst.write_text(text)
    with raises_data_error("list.txt", phrase):
        MaskFolderDataset(lst, num_classes=3)


def test_mask_folder_size_mismatch_and_skip(tmp_path):
    lst = make_mask_folder(tmp_path)
    write_index_png(tmp_path / "trainannot" / "b.png", np.zeros((8, 16)))
    with raises_data_error("b.png", r"mask is 16x8 but image train/b.png is 16x16"):
        MaskFolderDataset(lst, num_classes=3)
    lst.write_text(lst.read_text() + "just-one-field\n")
    with pytest.warns(UserWarning, match="skipped 2 bad sample"):
        ds = MaskFolderDataset(lst, num_classes=3, ignore_index=11, skip_bad=True)
    assert ds.skipped.count == 2 and len(ds) == 1 and ds[0].image_id == "train/a.png"
    assert "line 4" in str(ds.skipped.errors[1])


def test_mask_folder_needs_classes(tmp_path):
    with pytest.raises(ValueError, match="classes or num_classes"):
        MaskFolderDataset(make_mask_folder(tmp_path))


def test_camvid_real_data():
    ds = camvid(shared("camvid") / "train.txt")
    assert ds.classes == CAMVID_CLASSES and ds.ignore_index == 11 and len(ds) > 0
    for i in range(2):
        s = ds[i]
        assert s.image.shape == (3, 360, 480) and s.semantic.shape == (360, 480)
        values = set(s.semantic.unique().tolist())
        assert values <= set(range(11)) | {IGNORE_INDEX}


def test_empty_list_file_is_an_error(tmp_path):
    from regionlab.data.errors import DataError
    from regionlab.data.masks import MaskFolderDataset

    lst = tmp_path / "empty.txt"
    lst.write_text("\n")
    with pytest.raises(DataError, match=r"empty\.txt.*names no samples"):
        MaskFolderDataset(lst, num_classes=3)


def _binary_folder(root):
    write_image(root / "img" / "a.png", 8, 8, seed=1)
    mask = np.zeros((8, 8), np.uint8)
    mask[2:6, 2:6] = 255  # a black-and-white mask, as most binary sets save it
    write_index_png(root / "ann" / "a.png", mask)
    lst = root / "list.txt"
    lst.write_text("img/a.png ann/a.png\n")
    return lst, mask


def test_a_black_and_white_mask_is_refused_until_its_values_are_named(tmp_path):
    lst, mask = _binary_folder(tmp_path)
    # 255 used to be ignored without a word: the whole foreground lost
    with raises_data_error("a.png", r"class index 255 is not in 0..1 .*values=0\|255"):
        MaskFolderDataset(lst, num_classes=2)[0]
    got = MaskFolderDataset(lst, values=[0, 255])[0].semantic
    assert got.tolist() == (mask // 255).tolist() and got.dtype == torch.int64
    ignored = MaskFolderDataset(lst, num_classes=2, ignore_index=255)[0].semantic
    assert int((ignored == IGNORE_INDEX).sum()) == 16 and int((ignored == 0).sum()) == 48
    with raises_data_error("a.png", r"value 255 is none of the classes' values \[0, 128\]"):
        MaskFolderDataset(lst, values=[0, 128])[0]
    with pytest.raises(ValueError, match="2 values"):
        MaskFolderDataset(lst, num_classes=3, values=[0, 255])


def test_values_through_a_data_spec(tmp_path):
    from regionlab.api.specs import open_dataset

    lst, mask = _binary_folder(tmp_path)
    ds = open_dataset(f"masks:{lst}:values=0|255")
    assert ds.classes == ["class0", "class1"] and ds[0].semantic.tolist() == (mask // 255).tolist()
    named = open_dataset(f"masks:{lst}:classes=background|cell,values=0|255")
    assert named.classes == ["background", "cell"]
