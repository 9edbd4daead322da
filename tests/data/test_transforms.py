import torch

from regionlab.data.sample import IGNORE_INDEX
from regionlab.data.scenes import render_scene
from regionlab.data.transforms import SegmentationAugment, crop, hflip, resize


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
