import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from regionlab.data.detection_transforms import (
    DetectionAugment,
    keep_visible,
    mosaic,
    unletterbox,
)
from regionlab.data.sample import Sample


def _sample(h, w, boxes, seed=0, crowd=None, semantic=None):
    """An image with one integer box per object; masks fill the boxes; labels are 1..N and
    keypoints are the box corners and centre (K = 3); crowd flags default to even labels."""
    g = torch.Generator().manual_seed(seed)
    img = torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g)
    n = len(boxes)
    b = torch.tensor(boxes, dtype=torch.float32).reshape(n, 4)
    masks = torch.zeros((n, h, w), dtype=torch.bool)
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        masks[i, y1:y2, x1:x2] = True
    labels = torch.arange(1, n + 1)
    kp = torch.stack(
        [b[:, :2], b[:, 2:], (b[:, :2] + b[:, 2:]) / 2], 1
    )  # (N, 3, 2) corners + centre
    kp = torch.cat([kp, torch.full((n, 3, 1), 2.0)], -1)
    crowd = labels % 2 == 0 if crowd is None else crowd
    return Sample(
        img, semantic=semantic, masks=masks, boxes=b, labels=labels, keypoints=kp, iscrowd=crowd
    )


def _check(out: Sample, size, original: Sample | None = None):
    """Every invariant an output must satisfy."""
    H, W = size
    assert out.image.shape == (3, H, W) and out.image.dtype == torch.uint8
    n = len(out.labels)
    assert out.boxes.shape == (n, 4) and out.boxes.dtype == torch.float32
    assert out.iscrowd.shape == (n,) and out.masks.shape == (n, H, W)
    assert out.keypoints.shape[0] == n
    b = out.boxes
    assert b.isfinite().all()
    assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all()
    assert (b[:, 0] < b[:, 2]).all() and (b[:, 1] < b[:, 3]).all()
    assert (b[:, 2] <= W).all() and (b[:, 3] <= H).all()
    vis = out.keypoints[..., 2] > 0
    x, y = out.keypoints[..., 0], out.keypoints[..., 1]
    assert ((x >= 0) & (x <= W) & (y >= 0) & (y <= H))[vis].all()
    if original is not None:  # labels are unique ids: crowd flags travelled with their boxes
        assert len(set(out.labels.tolist())) == n
        assert torch.equal(out.iscrowd, original.iscrowd[out.labels - 1])
    for m, box in zip(out.masks, b):  # masks stay aligned with boxes (within 1 px)
        if (box[2:] - box[:2]).min() < 2:
            continue  # eval keeps tiny objects; nearest resizing may erase their mask
        ys, xs = m.any(1).nonzero()[:, 0], m.any(0).nonzero()[:, 0]
        assert len(xs) and len(ys)
        mbox = torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=torch.float32)
        assert (mbox - box).abs().max() <= 1.0, (mbox, box)


@st.composite
def samples(draw, max_side=40):
    h, w = draw(st.integers(4, max_side)), draw(st.integers(4, max_side))
    boxes = []
    for _ in range(draw(st.integers(0, 4))):
        x1, y1 = draw(st.integers(0, w - 1)), draw(st.integers(0, h - 1))
        boxes.append([x1, y1, draw(st.integers(x1 + 1, w)), draw(st.integers(y1 + 1, h))])
    return _sample(h, w, boxes, seed=draw(st.integers(0, 100)))


sizes = st.tuples(st.integers(8, 40), st.integers(8, 40))


@settings(max_examples=60, deadline=None)
@given(samples(), sizes, st.integers(0, 2**31), st.booleans(), st.booleans(), st.booleans())
def test_outputs_are_valid(sample, size, seed, train, letterbox, centre):
    aug = DetectionAugment(size, train=train, letterbox=letterbox, centre=centre)
    out = aug(sample, torch.Generator().manual_seed(seed))
    _check(out, size, sample)
    if not train:  # evaluation never drops objects
        assert torch.equal(out.labels, sample.labels)


@settings(max_examples=25, deadline=None)
@given(st.lists(samples(24), min_size=4, max_size=4), sizes, st.integers(0, 2**31))
def test_mosaic_outputs_are_valid(four, size, seed):
    # relabel so each object has a unique id over the four samples
    offset, shifted = 0, []
    for s in four:
        shifted.append(
            Sample(
                s.image,
                masks=s.masks,
                boxes=s.boxes,
                labels=s.labels + offset,
                keypoints=s.keypoints,
                iscrowd=s.iscrowd,
            )
        )
        offset += len(s.labels)
    out = mosaic(shifted, size, torch.Generator().manual_seed(seed))
    _check(out, size)
    assert len(set(out.labels.tolist())) == len(out.labels)
    all_crowd = torch.cat([s.iscrowd for s in four])
    assert torch.equal(out.iscrowd, all_crowd[out.labels - 1])


def test_seeded_outputs_are_reproducible_and_leave_the_global_rng_alone():
    s = _sample(30, 50, [[5, 5, 25, 20], [30, 10, 48, 28]])
    aug = DetectionAugment((32, 32), train=True)
    state = torch.get_rng_state()
    a = aug(s, torch.Generator().manual_seed(7))
    b = aug(s, torch.Generator().manual_seed(7))
    m1 = mosaic([s] * 4, (32, 32), torch.Generator().manual_seed(7))
    m2 = mosaic([s] * 4, (32, 32), torch.Generator().manual_seed(7))
    assert torch.equal(torch.get_rng_state(), state)
    for x, y in ((a, b), (m1, m2)):
        assert torch.equal(x.image, y.image) and torch.equal(x.boxes, y.boxes)
        assert torch.equal(x.labels, y.labels) and torch.equal(x.masks, y.masks)
    others = [aug(s, torch.Generator().manual_seed(k)) for k in range(8, 12)]
    assert any(not torch.equal(o.image, a.image) for o in others)
    assert any(not torch.equal(o.boxes, a.boxes) for o in others)
    m3 = mosaic([s] * 4, (32, 32), torch.Generator().manual_seed(8))
    assert not torch.equal(m3.image, m1.image)


@pytest.mark.parametrize("letterbox", [True, False])
@pytest.mark.parametrize("centre", [True, False])
@pytest.mark.parametrize("hw", [(50, 100), (37, 23), (64, 64), (10, 90)])
def test_unletterbox_maps_eval_boxes_back(letterbox, centre, hw):
    h, w = hw
    s = _sample(h, w, [[0, 0, w, h], [1, 2, w // 2, h // 2 + 1]])
    aug = DetectionAugment((48, 64), train=False, letterbox=letterbox, centre=centre)
    out, frame = aug.letterbox_frame(s)
    assert frame == aug.frame((h, w))
    assert torch.equal(out.image, aug(s).image) and torch.equal(out.boxes, aug(s).boxes)
    assert (frame.orig_h, frame.orig_w) == (h, w)
    assert torch.allclose(unletterbox(out.boxes, frame), s.boxes, atol=1e-4)
    image, image_frame = aug.letterbox_image(s.image)  # predict's path: the image alone
    assert torch.equal(image, out.image) and image_frame == frame


def test_letterbox_hand_case():
    # 100 wide, 50 high -> 64x64: scale 0.64, resized to 64x32, 16 rows of grey above and below
    s = _sample(50, 100, [[10, 5, 60, 45]])
    out, frame = DetectionAugment((64, 64), train=False).letterbox_frame(s)
    assert torch.allclose(out.boxes, torch.tensor([[6.4, 19.2, 38.4, 44.8]]))
    assert (frame.scale_x, frame.scale_y, frame.pad_x, frame.pad_y) == (0.64, 0.64, 0, 16)
    assert (out.image[:, :16] == 114).all() and (out.image[:, 48:] == 114).all()
    corner, _ = DetectionAugment((64, 64), train=False, centre=False).letterbox_frame(s)
    assert torch.allclose(corner.boxes, torch.tensor([[6.4, 3.2, 38.4, 28.8]]))
    assert (corner.image[:, 32:] == 114).all()


def test_flip_of_a_known_box():
    s = _sample(40, 60, [[10, 5, 30, 25]])
    still = dict(train=True, scale=(1.0, 1.0), colour=0.0, hue=0.0)
    f = DetectionAugment((40, 60), flip=1.0, **still)(s, torch.Generator().manual_seed(0))
    assert torch.equal(f.boxes, torch.tensor([[30.0, 5.0, 50.0, 25.0]]))
    assert torch.equal(f.image, s.image.flip(-1)) and torch.equal(f.masks, s.masks.flip(-1))
    n = DetectionAugment((40, 60), flip=0.0, **still)(s, torch.Generator().manual_seed(0))
    assert torch.equal(n.boxes, s.boxes) and torch.equal(n.image, s.image)


def test_image_without_objects_passes():
    s = _sample(20, 30, [])
    for train in (True, False):
        out = DetectionAugment((16, 16), train=train)(s, torch.Generator().manual_seed(1))
        _check(out, (16, 16))
        assert len(out.labels) == 0
    _check(mosaic([s] * 4, (16, 16), torch.Generator().manual_seed(1)), (16, 16))


def test_keep_visible_drops_objects_mostly_out_of_view():
    s = _sample(10, 10, [[0, 0, 10, 10], [0, 0, 1, 10], [0, 0, 4, 4], [0, 0, 5, 5]])
    out = keep_visible(s, torch.tensor([100.0, 10.0, 100.0, 100.0]))
    assert out.labels.tolist() == [1, 4]
    assert torch.equal(out.masks, s.masks[[0, 3]]) and out.iscrowd.tolist() == [False, True]


def test_mosaic_keeps_each_visible_object_with_its_label():
    # four 32x32 samples, scaled 2x to 64x64 (each covers its whole quadrant of the 64x64
    # canvas); sample i is semantic class i and holds objects labelled 2i+1 and 2i+2
    four = []
    for i in range(4):
        s = _sample(
            32,
            32,
            [[4, 4, 12, 12], [18, 18, 30, 30]],
            seed=i,
            semantic=torch.full((32, 32), i, dtype=torch.int64),
        )
        four.append(
            Sample(
                s.image,
                semantic=s.semantic,
                masks=s.masks,
                boxes=s.boxes,
                labels=s.labels + 2 * i,
                keypoints=s.keypoints,
                iscrowd=s.iscrowd,
            )
        )
    for seed in range(6):
        out = mosaic(four, (64, 64), torch.Generator().manual_seed(seed), scale=(1.0, 1.0))
        _check(out, (64, 64))
        cx, cy = int((out.semantic[0] == 0).sum()), int((out.semantic[:, 0] == 0).sum())
        assert 16 <= cx <= 48 and 16 <= cy <= 48 and out.semantic[-1, -1] == 3
        expected = {}
        for i, s in enumerate(four):
            ox, oy = (cx - 64 if i % 2 == 0 else cx), (cy - 64 if i < 2 else cy)
            for label, box in zip(s.labels.tolist(), s.boxes):
                full = box * 2 + torch.tensor([ox, oy, ox, oy])
                vis = full.clone()
                vis[0::2] = vis[0::2].clamp(0, 64)
                vis[1::2] = vis[1::2].clamp(0, 64)
                w, h = vis[2] - vis[0], vis[3] - vis[1]
                if min(w, h) >= 2 and w * h >= 0.25 * (full[2] - full[0]) * (full[3] - full[1]):
                    expected[label] = vis
        got = dict(zip(out.labels.tolist(), out.boxes))
        assert got.keys() == expected.keys()
        for label, box in got.items():
            assert torch.allclose(box, expected[label], atol=1e-4)
            # the pixels under the box come from the right sample
            x1, y1, x2, y2 = box.int().tolist()
            assert (out.semantic[y1:y2, x1:x2] == (label - 1) // 2).all()
