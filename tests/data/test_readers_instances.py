import numpy as np
import pytest
import torch
from fixtures import make_instances, raises_data_error, shared, write_image, write_index_png

from regionlab.data.instances import InstanceMaskDataset, boxes_from_masks


def test_instances_masks_boxes_semantic(tmp_path):
    images, masks = make_instances(tmp_path)
    ds = InstanceMaskDataset(images, masks, class_name="person")
    assert ds.classes == ["background", "person"] and len(ds) == 2
    assert ds.source == str(masks)

    a = ds[0]
    assert a.image.shape == (3, 20, 24) and a.image_id == "a"
    expected = torch.zeros((2, 20, 24), dtype=torch.bool)
    expected[0, 2:10, 3:7] = True  # id 1
    expected[1, 12:20, 10:24] = True  # id 3 (id 2 absent)
    assert torch.equal(a.masks, expected)
    assert a.boxes.tolist() == [[3, 2, 7, 10], [10, 12, 24, 20]]  # x2/y2 one past the last pixel
    assert a.labels.tolist() == [1, 1] and a.iscrowd.tolist() == [False, False]
    assert torch.equal(a.semantic, expected.any(0).long())

    b = ds[1]
    assert b.masks.shape == (0, 16, 16) and b.boxes.shape == (0, 4)
    assert (b.semantic == 0).all()


def test_boxes_from_masks_single_pixel():
    m = torch.zeros((1, 5, 5), dtype=torch.bool)
    m[0, 4, 0] = True
    assert boxes_from_masks(m).tolist() == [[0, 4, 1, 5]]


def test_instances_missing_mask_and_size(tmp_path):
    images, masks = make_instances(tmp_path)
    write_image(images / "c.png", 16, 16)
    with raises_data_error("c.png", "mask file c_mask.png does not exist"):
        InstanceMaskDataset(images, masks)
    write_index_png(masks / "c_mask.png", np.zeros((16, 18)))
    with raises_data_error("c_mask.png", "mask is 18x16 but image c.png is 16x16"):
        InstanceMaskDataset(images, masks)


def test_instances_symlink_outside_root(tmp_path):
    images, masks = make_instances(tmp_path / "ds")
    write_image(tmp_path / "elsewhere.png", 16, 16)
    write_index_png(masks / "d_mask.png", np.zeros((16, 16)))
    (images / "d.png").symlink_to(tmp_path / "elsewhere.png")
    with raises_data_error("d.png", "points outside the dataset root"):
        InstanceMaskDataset(images, masks)
    assert len(InstanceMaskDataset(images, masks, allow_outside_root=True)) == 3


def test_instances_skip_bad(tmp_path):
    images, masks = make_instances(tmp_path)
    write_image(images / "c.png", 16, 16)
    with pytest.warns(UserWarning, match=r"(?s)skipped 1 bad sample.*c_mask\.png does not exist"):
        ds = InstanceMaskDataset(images, masks, skip_bad=True)
    assert ds.skipped.count == 1 and [ds[i].image_id for i in range(len(ds))] == ["a", "b"]


def test_pennfudan_real_data():
    root = shared("pennfudan")
    ds = InstanceMaskDataset(root / "PNGImages", root / "PedMasks", class_name="person")
    assert len(ds) == 170
    for i in range(2):
        s = ds[i]
        h, w = s.size
        n = len(s.labels)
        assert n >= 1 and s.masks.shape == (n, h, w) and s.boxes.shape == (n, 4)
        assert bool((s.boxes[:, 2] > s.boxes[:, 0]).all()) and (s.labels == 1).all()


def test_instances_mask_without_image(tmp_path):
    images, masks = make_instances(tmp_path)
    write_index_png(masks / "z_mask.png", np.zeros((16, 16)))
    with raises_data_error("z_mask.png", "no image for this mask"):
        InstanceMaskDataset(images, masks)


def test_two_images_sharing_one_mask_file_are_refused(tmp_path):
    images, masks = make_instances(tmp_path)
    write_image(images / "a.jpg", 20, 24, seed=5)  # a.png and a.jpg: both would read a_mask.png
    with raises_data_error("a.png", r"shares its mask a_mask\.png with a\.jpg"):
        InstanceMaskDataset(images, masks)
