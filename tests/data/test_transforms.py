import pytest
import torch

from regionlab.data.sample import IGNORE_INDEX
from regionlab.data.scenes import SceneConfig, render_scene
from regionlab.data.transforms import (
    KeypointAugment,
    ObjectAugment,
    SegmentationAugment,
    colour_jitter,
    crop,
    flip_permutation,
    hflip,
    largest_object,
    resize,
)


def test_resize_scales_every_field():
    s = render_scene(0, 1)
    r = resize(s, (48, 192))
    assert r.image.shape == (3, 48, 192) and r.semantic.shape == (48, 192)
    assert r.masks.shape[1:] == (48, 192)
    assert torch.allclose(r.boxes, s.boxes * torch.tensor([2.0, 0.5, 2.0, 0.5]))
    assert torch.allclose(r.keypoints[..., 0], s.keypoints[..., 0] * 2)


def test_hflip_twice_is_identity_and_boxes_mirror():
    s = render_scene(0, 2)
    f = hflip(s)
    w = s.size[1]
    assert torch.equal(f.boxes[:, 0], w - s.boxes[:, 2])
    ff = hflip(f)
    assert torch.equal(ff.image, s.image) and torch.equal(ff.semantic, s.semantic)
    assert torch.allclose(ff.boxes, s.boxes)


def test_crop_pads_with_ignore_beyond_the_image():
    s = render_scene(0, 3)
    c = crop(s, 80, 80, (32, 32))
    assert c.semantic.shape == (32, 32)
    assert (c.semantic[16:, :] == IGNORE_INDEX).all() and (c.image[:, 16:, :] == 0).all()


def test_augment_is_a_function_of_the_generator_seed():
    s = render_scene(0, 4)
    aug = SegmentationAugment((64, 64), train=True)
    a = aug(s, torch.Generator().manual_seed(3))
    b = aug(s, torch.Generator().manual_seed(3))
    assert torch.equal(a.image, b.image) and torch.equal(a.semantic, b.semantic)
    assert a.image.shape == (3, 64, 64)


def test_colour_jitter_moves_the_pixels_not_the_class_map():
    s = render_scene(0, 4)
    plain = SegmentationAugment((64, 64), train=True)
    jitter = SegmentationAugment((64, 64), train=True, colour=0.3, hue=0.015)
    a, b = (aug(s, torch.Generator().manual_seed(3)) for aug in (plain, jitter))
    # the same geometry (the jitter draws after it), other colours
    assert torch.equal(a.semantic, b.semantic) and not torch.equal(a.image, b.image)
    again = jitter(s, torch.Generator().manual_seed(3))
    assert torch.equal(again.image, b.image)  # a function of the generator
    assert torch.equal(colour_jitter(s.image, 0.0, 0.0), s.image)  # factors 1, no shift


def _one_box_sample(h=40, w=60, box=(10.0, 5.0, 30.0, 25.0)):
    from regionlab.data.sample import Sample

    img = torch.zeros((3, h, w), dtype=torch.uint8)
    x1, y1, x2, y2 = (int(v) for v in box)
    img[:, y1:y2, x1:x2] = 200
    kp = torch.tensor([[[x1, y1, 2.0], [x2, y2, 1.0], [0.0, 0.0, 0.0]]])
    return Sample(img, boxes=torch.tensor([box]), labels=torch.tensor([1]), keypoints=kp)


def test_crop_with_negative_offsets_pads_top_left():
    s = _one_box_sample()
    c = crop(s, -5, -10, (20, 30))
    assert c.image.shape == (3, 20, 30)
    assert c.image[:, :5].sum() == 0 and c.image[:, :, :10].sum() == 0
    assert c.boxes.tolist() == [[20.0, 10.0, 30.0, 20.0]]  # clipped to the crop
    assert c.keypoints[0, 0, :2].tolist() == [20.0, 10.0]


def test_largest_object_keeps_the_biggest_non_crowd_one():
    s = render_scene(0, 3, SceneConfig(max_objects=4, min_objects=3))
    areas = (s.boxes[:, 2] - s.boxes[:, 0]) * (s.boxes[:, 3] - s.boxes[:, 1])
    one = largest_object(s)
    assert len(one.labels) == 1 and one.masks.shape[0] == 1 and one.keypoints.shape[0] == 1
    assert torch.equal(one.boxes[0], s.boxes[int(areas.argmax())])
    s.iscrowd = torch.zeros(len(s.labels), dtype=torch.bool)
    s.iscrowd[int(areas.argmax())] = True
    assert not torch.equal(largest_object(s).boxes[0], s.boxes[int(areas.argmax())])
    s.iscrowd[:] = True
    with pytest.raises(ValueError, match="no \\(non-crowd\\) object"):
        largest_object(s)


def test_object_augment_keeps_the_box_whole():
    s = _one_box_sample()
    aug = ObjectAugment((32, 32), train=True, crop=(0.2, 1.0))
    for seed in range(30):
        out = aug(s, torch.Generator().manual_seed(seed))
        assert out.image.shape == (3, 32, 32)
        b = out.boxes[0]
        # The object's pixels are all inside: its area (in the warped frame) is > 0 and the box
        # still covers bright pixels only (boxes are not clipped, so nothing was cut off).
        assert 0 <= b[0] < b[2] <= 32 and 0 <= b[1] < b[3] <= 32
        inner = out.image[0, int(b[1]) + 1 : int(b[3]) - 1, int(b[0]) + 1 : int(b[2]) - 1]
        assert inner.float().mean() > 150
    plain = ObjectAugment((20, 30), train=False)(s)
    assert plain.boxes.tolist() == [[5.0, 2.5, 15.0, 12.5]]


def test_keypoint_augment_crops_the_box_and_permutes_on_flip():
    s = _one_box_sample()
    out, box = KeypointAugment((20, 20), train=False, margin=0.0)(s)
    assert box == [10.0, 5.0, 30.0, 25.0] and out.image.shape == (3, 20, 20)
    assert out.keypoints[0, :2, :2].tolist() == [[0.0, 0.0], [20.0, 20.0]]
    flip = KeypointAugment((20, 20), train=True, margin=0.0, shift=0.0, scale=(1.0, 1.0),
                           flip=1.0, flip_perm=[1, 0, 2])  # fmt: skip
    f, fbox = flip(s, torch.Generator().manual_seed(0))
    # Mirrored: keypoint 1 (was bottom-right, now bottom-left) becomes keypoint 0.
    assert fbox == [30.0, 5.0, 50.0, 25.0]
    assert f.keypoints[0, 0].tolist() == [0.0, 20.0, 1.0]
    assert f.keypoints[0, 1].tolist() == [20.0, 0.0, 2.0]


def test_flip_permutation_from_names():
    names = ["nose", "left_eye", "right_eye", "left knee", "right knee"]
    assert flip_permutation(names) == [0, 2, 1, 4, 3]
    assert flip_permutation(["left_hand"]) is None  # no partner: cannot mirror


def test_rotate_moves_keypoints_with_the_pixels():
    from regionlab.data.sample import Sample
    from regionlab.data.transforms import rotate

    img = torch.zeros((3, 21, 21), dtype=torch.uint8)
    img[:, 5, 15] = 255  # pixel (x=15, y=5), centre (15.5, 5.5)
    kp = torch.tensor([[[15.5, 5.5, 2.0]]])
    s = Sample(img, boxes=torch.tensor([[0.0, 0.0, 21.0, 21.0]]), labels=torch.tensor([1]),
               keypoints=kp)  # fmt: skip
    for deg in (90.0, -90.0, 180.0, 37.0):
        r = rotate(s, deg)
        y, x = divmod(int(r.image[0].flatten().argmax()), 21)
        assert (
            abs(r.keypoints[0, 0, 0] - (x + 0.5)) <= 1
            and abs(r.keypoints[0, 0, 1] - (y + 0.5)) <= 1
        )
    r = rotate(s, 90.0)
    assert r.keypoints[0, 0, :2].tolist() == pytest.approx([5.5, 5.5])


def test_a_stated_area_follows_its_objects_and_is_dropped_where_pixels_move():
    """``Sample.area`` is in the original image's pixels: selecting objects keeps it in step,
    a transform that moves or scales pixels drops it, a mirror keeps it."""
    from dataclasses import replace

    from regionlab.data.detection_transforms import keep_visible, place
    from regionlab.data.transforms import crop, hflip, largest_object, resize, rotate

    s = render_scene(0, 7, SceneConfig(size=48, max_objects=3))
    assert len(s.labels) == 3
    s = replace(s, area=torch.arange(len(s.labels), dtype=torch.float64) + 0.5)
    big = int(((s.boxes[:, 2] - s.boxes[:, 0]) * (s.boxes[:, 3] - s.boxes[:, 1])).argmax())
    assert largest_object(s).area.tolist() == [big + 0.5]
    full = torch.full((len(s.labels),), 1e9)  # nothing is visible enough: all dropped
    assert keep_visible(s, full).area.shape == (0,)
    assert torch.equal(hflip(s).area, s.area)
    for moved in (resize(s, (24, 24)), crop(s, 2, 2, (40, 40)), rotate(s, 10.0),
                  place(s, (24, 24), (0, 0), (32, 32))[0]):  # fmt: skip
        assert moved.area is None
    with pytest.raises(ValueError, match="Sample.area must be"):
        replace(s, area=s.area[:-1])
