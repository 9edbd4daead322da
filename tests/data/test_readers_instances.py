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


def _voc_object_mask(root, palette: bool = True) -> tuple:
    """A VOC ``SegmentationObject``-like mask: objects 1 and 2, each ringed by a 255 border."""
    images, masks = root / "img", root / "obj"
    write_image(images / "v.png", 12, 16)
    ids = np.zeros((12, 16), dtype=np.uint8)
    ids[1:6, 1:6], ids[2:5, 2:5] = 255, 1
    ids[6:12, 8:15], ids[7:11, 9:14] = 255, 2
    write_index_png(masks / "v_mask.png", ids, palette=palette)
    return images, masks, ids


@pytest.mark.parametrize("palette", [True, False], ids=["P", "L"])
def test_an_8_bit_255_next_to_other_ids_is_refused_as_voc_s_border(tmp_path, palette):
    images, masks, _ = _voc_object_mask(tmp_path, palette)
    with raises_data_error("v_mask.png", "value 255 next to instance ids .*ignore_index=255"):
        InstanceMaskDataset(images, masks)[0]


def test_ignore_index_leaves_the_border_out_of_every_object(tmp_path):
    images, masks, ids = _voc_object_mask(tmp_path)
    s = InstanceMaskDataset(images, masks, ignore_index=255)[0]
    assert len(s.masks) == 2 and s.labels.tolist() == [1, 1]
    assert torch.equal(s.masks[0], torch.from_numpy(ids == 1))
    assert torch.equal(s.masks[1], torch.from_numpy(ids == 2))
    assert s.boxes.tolist() == [[2, 2, 5, 5], [9, 7, 14, 11]]
    assert torch.equal(s.semantic == 255, torch.from_numpy(ids == 255))
    with pytest.raises(ValueError, match="ignore_index must be an id >= 1"):
        InstanceMaskDataset(images, masks, ignore_index=0)


def test_a_lone_255_or_a_16_bit_255_is_an_object(tmp_path):
    from PIL import Image

    images = tmp_path / "img"
    write_image(images / "bw.png", 8, 8)
    write_image(images / "deep.png", 8, 8)
    bw = np.zeros((8, 8), dtype=np.uint8)
    bw[2:6, 2:6] = 255  # a black-and-white mask of one object
    write_index_png(tmp_path / "m" / "bw_mask.png", bw)
    deep = np.zeros((8, 8), dtype=np.uint16)
    deep[0:3, 0:3], deep[4:8, 4:8] = 1, 255  # a 16-bit mask: 255 is an id like any other
    Image.fromarray(deep).save(tmp_path / "m" / "deep_mask.png")
    ds = InstanceMaskDataset(images, tmp_path / "m")
    assert [len(ds[i].masks) for i in range(2)] == [1, 2]
