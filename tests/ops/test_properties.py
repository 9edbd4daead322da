"""Property-based tests (hypothesis) for box coding, IoU, NMS, mask encodings and upsamplers.

Each property is checked against a brute-force pure-Python reference or an invariant, on small
random inputs; example counts are kept modest so the file runs in a few seconds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torchvision.ops import batched_nms, box_iou, nms

from regionlab.data.rle import mask_to_rle, polygons_to_mask, rle_to_mask
from regionlab.ops.boxes import BoxCoder, elementwise_iou
from regionlab.ops.upsample import UPSAMPLERS, make_upsampler

FAST = settings(max_examples=100, deadline=None)

# ---------------------------------------------------------------------------- strategies

coord = st.floats(min_value=0.0, max_value=100.0, allow_nan=False, allow_infinity=False)


@st.composite
def xyxy(draw, min_size: float = 0.0, max_size: float = 50.0, empty: bool = False) -> list[float]:
    """One ``xyxy`` box with non-negative corners and width/height in ``[min_size, max_size]``
    (or exactly 0 when ``empty``)."""
    size = st.floats(min_value=min_size, max_value=max_size, allow_nan=False)
    if empty:
        size = st.one_of(st.just(0.0), size)
    x1, y1, w, h = draw(coord), draw(coord), draw(size), draw(size)
    return [x1, y1, x1 + w, y1 + h]


def boxes_tensor(rows: list[list[float]], dtype=torch.float64) -> torch.Tensor:
    return torch.tensor(rows, dtype=dtype).reshape(len(rows), 4)


def assert_boxes_close(got: torch.Tensor, expected: torch.Tensor, *others: torch.Tensor) -> None:
    """``|got - expected| <= 1e-6 * box size``, the size being the largest side (at least 1)
    of ``expected`` and of any ``others`` (``(..., 4)`` boxes of the same leading shape)."""
    sides = [b[..., 2:] - b[..., :2] for b in (expected, *others)]
    scale = torch.stack([s.amax(-1) for s in sides]).amax(0).clamp(min=1.0)
    assert got.shape == expected.shape
    assert ((got - expected).abs() <= 1e-6 * scale[..., None]).all()


# ---------------------------------------------------------------------------- pure-Python refs


def iou_py(a, b) -> float:
    """IoU of two ``xyxy`` boxes; ``nan`` when the union is empty (as torchvision's box_iou)."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else math.nan


def greedy_nms_py(boxes, scores, threshold) -> list[int]:
    """Highest score first; keep a box unless its IoU with a kept box exceeds ``threshold``."""
    order = sorted(range(len(boxes)), key=lambda i: -scores[i])
    keep: list[int] = []
    for i in order:
        # nan (two empty boxes) compares False: an empty box never suppresses anything.
        if all(not (iou_py(boxes[i], boxes[k]) > threshold) for k in keep):
            keep.append(i)
    return keep


# ---------------------------------------------------------------------------- BoxCoder

weights = st.tuples(*[st.floats(min_value=0.5, max_value=20.0)] * 4)


@FAST
@given(
    pairs=st.lists(st.tuples(xyxy(min_size=1.0), xyxy(min_size=1.0)), min_size=1, max_size=8),
    w=weights,
)
def test_box_coder_round_trip(pairs, w):
    # Sizes in [1, 50]: ratios stay below the clip (62.5x), so decode inverts encode.
    ref = boxes_tensor([p[0] for p in pairs])
    tgt = boxes_tensor([p[1] for p in pairs])
    coder = BoxCoder(weights=w)
    out = coder.decode(coder.encode(ref, tgt), ref)
    assert out.dtype == torch.float64
    assert_boxes_close(out, tgt, ref)


@FAST
@given(
    data=st.data(),
    n=st.integers(min_value=0, max_value=5),
    c=st.integers(min_value=1, max_value=4),
)
def test_box_coder_round_trip_class_specific(data, n, c):
    ref = boxes_tensor(data.draw(st.lists(xyxy(min_size=1.0), min_size=n, max_size=n)))
    # (N, C, 4): one target per (reference, class).
    tgt = boxes_tensor(
        data.draw(st.lists(xyxy(min_size=1.0), min_size=n * c, max_size=n * c))
    ).reshape(n, c, 4)
    coder = BoxCoder()
    deltas = coder.encode(ref.repeat_interleave(c, dim=0), tgt.reshape(n * c, 4)).reshape(n, 4 * c)
    out = coder.decode(deltas, ref)
    assert out.shape == (n, 4 * c)
    assert_boxes_close(out.reshape(n, c, 4), tgt, ref[:, None, :].expand(n, c, 4))


@FAST
@given(
    ref=st.lists(xyxy(min_size=1.0), min_size=1, max_size=6),
    data=st.data(),
)
def test_box_coder_decode_is_finite_and_size_is_clamped(ref, data):
    big = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False)
    deltas = torch.tensor(
        data.draw(st.lists(st.tuples(big, big, big, big), min_size=len(ref), max_size=len(ref))),
        dtype=torch.float64,
    )
    r = boxes_tensor(ref)
    coder = BoxCoder(weights=(1.0, 1.0, 1.0, 1.0))
    out = coder.decode(deltas, r)
    assert torch.isfinite(out).all()
    grow = (out[:, 2:] - out[:, :2]) / (r[:, 2:] - r[:, :2])
    assert (grow <= math.exp(coder.clip) * (1 + 1e-9)).all()
    assert (grow >= 0).all()


# ---------------------------------------------------------------------------- IoU

box_lists = st.lists(xyxy(), min_size=0, max_size=8)


@FAST
@given(a=box_lists, b=box_lists)
def test_box_iou_matches_brute_force(a, b):
    # Zero-size boxes are allowed: two empty boxes have an empty union and IoU nan.
    got = box_iou(boxes_tensor(a), boxes_tensor(b))
    expected = torch.tensor([[iou_py(x, y) for y in b] for x in a], dtype=torch.float64)
    torch.testing.assert_close(got, expected.reshape(len(a), len(b)), equal_nan=True)


@FAST
@given(a=box_lists, b=box_lists)
def test_box_iou_symmetric_and_bounded(a, b):
    ab = box_iou(boxes_tensor(a), boxes_tensor(b))
    ba = box_iou(boxes_tensor(b), boxes_tensor(a))
    torch.testing.assert_close(ab, ba.T, rtol=0, atol=0, equal_nan=True)
    finite = ab[~torch.isnan(ab)]
    assert ((finite >= 0) & (finite <= 1)).all()


@FAST
@given(a=st.lists(xyxy(min_size=1e-3), min_size=1, max_size=8))
def test_box_iou_with_itself_is_one(a):
    t = boxes_tensor(a)
    torch.testing.assert_close(box_iou(t, t).diagonal(), torch.ones(len(a), dtype=torch.float64))


@FAST
@given(pairs=st.lists(st.tuples(xyxy(), xyxy()), min_size=0, max_size=8))
def test_elementwise_iou_is_the_diagonal_of_box_iou(pairs):
    a = boxes_tensor([p[0] for p in pairs])
    b = boxes_tensor([p[1] for p in pairs])
    got = elementwise_iou(a, b)
    diag = box_iou(a, b).diagonal()
    assert got.shape == (len(pairs),)
    # Where box_iou divides 0 by 0 (both boxes empty), elementwise_iou reports 0.
    torch.testing.assert_close(got, torch.nan_to_num(diag, nan=0.0))
    assert ((got >= 0) & (got <= 1)).all()


# ---------------------------------------------------------------------------- NMS


@st.composite
def nms_case(draw, max_classes: int = 1, dtypes=(torch.float32, torch.float64)):
    n = draw(st.integers(min_value=0, max_value=12))
    # Sides are 0 or >= 0.01 px: thinner boxes only probe float underflow (a 1e-80-high box
    # has area 0 once batched_nms has shifted it by its class offset).
    rows = draw(st.lists(xyxy(0.01, 40.0, empty=True), min_size=n, max_size=n))
    order = draw(st.permutations(range(n)))  # distinct scores: the greedy order is defined
    classes = draw(st.lists(st.integers(0, max_classes - 1), min_size=n, max_size=n))
    threshold = draw(st.floats(min_value=0.05, max_value=0.95))
    dtype = draw(st.sampled_from(dtypes))
    boxes = boxes_tensor(rows, dtype)
    # The reference sees exactly the coordinates torchvision sees (after rounding to dtype).
    rows = boxes.tolist()
    # An IoU within rounding of the threshold could go either way: not a meaningful case.
    margin = 1e-5 if dtype == torch.float32 else 1e-9
    for i in range(n):
        for j in range(i + 1, n):
            v = iou_py(rows[i], rows[j])
            assume(math.isnan(v) or abs(v - threshold) > margin)
    scores = torch.tensor([float(s) / max(n, 1) for s in order], dtype=dtype)
    return boxes, rows, scores, classes, threshold


@FAST
@given(case=nms_case())
def test_nms_matches_brute_force_greedy(case):
    boxes, rows, scores, _, threshold = case
    keep = nms(boxes, scores, threshold)
    assert keep.dtype == torch.int64
    assert keep.tolist() == greedy_nms_py(rows, scores.tolist(), threshold)


@FAST
@given(case=nms_case(max_classes=3, dtypes=(torch.float64,)))
def test_batched_nms_matches_per_class_brute_force(case):
    # Two limits of torchvision's batched_nms (below 4000 boxes on CPU it shifts each class by
    # class * (max coordinate + 1) and runs one nms):
    # - corners must be non-negative, or shifted classes can overlap and suppress each other;
    # - in float32 the shift costs precision: a 1e-5-wide box at x = 25 becomes 0 wide at
    #   x = 128 and stops suppressing its twin. float64 keeps the shift exact enough here.
    boxes, rows, scores, classes, threshold = case
    s = scores.tolist()
    expected: list[int] = []
    for c in set(classes):
        members = [i for i in range(len(rows)) if classes[i] == c]
        kept = greedy_nms_py([rows[i] for i in members], [s[i] for i in members], threshold)
        expected += [members[k] for k in kept]
    expected.sort(key=lambda i: -s[i])
    keep = batched_nms(boxes, scores, torch.tensor(classes, dtype=torch.int64), threshold)
    assert keep.tolist() == expected


# ---------------------------------------------------------------------------- masks and RLE


@st.composite
def masks(draw, max_side: int = 16) -> torch.Tensor:
    h = draw(st.integers(min_value=0, max_value=max_side))
    w = draw(st.integers(min_value=0, max_value=max_side))
    bits = draw(st.lists(st.booleans(), min_size=h * w, max_size=h * w))
    return torch.tensor(bits, dtype=torch.bool).reshape(h, w)


def uncompressed_rle_py(mask: torch.Tensor) -> dict:
    """COCO's uncompressed RLE by hand: run lengths over the column-major pixels, zeros first."""
    h, w = mask.shape
    flat = mask.T.reshape(-1).tolist()
    counts, current, run = [], False, 0
    for v in flat:
        if v == current:
            run += 1
        else:
            counts.append(run)
            current, run = v, 1
    counts.append(run)
    return {"size": [h, w], "counts": counts}


@FAST
@given(mask=masks())
def test_mask_rle_round_trip_is_exact(mask):
    rle = mask_to_rle(mask)
    assert rle["size"] == list(mask.shape)
    assert isinstance(rle["counts"], str)
    back = rle_to_mask(rle)
    assert back.dtype == torch.bool
    assert torch.equal(back, mask)


@FAST
@given(mask=masks())
def test_rle_area_equals_mask_sum(mask):
    import faster_coco_eval.core.mask as mask_api

    assert int(mask_api.area(mask_to_rle(mask))) == int(mask.sum())


@FAST
@given(mask=masks())
def test_uncompressed_rle_decodes_like_a_hand_written_one(mask):
    rle = uncompressed_rle_py(mask)
    assert sum(rle["counts"]) == mask.numel()
    assert torch.equal(rle_to_mask(rle), mask)


@st.composite
def int_rectangle(draw):
    h = draw(st.integers(min_value=1, max_value=24))
    w = draw(st.integers(min_value=1, max_value=24))
    x0 = draw(st.integers(min_value=0, max_value=w - 1))
    x1 = draw(st.integers(min_value=x0 + 1, max_value=w))
    y0 = draw(st.integers(min_value=0, max_value=h - 1))
    y1 = draw(st.integers(min_value=y0 + 1, max_value=h))
    return h, w, x0, y0, x1, y1


@FAST
@given(rect=int_rectangle())
def test_integer_rectangle_polygon_rasterises_to_exactly_its_pixels(rect):
    # Stronger than "area within the perimeter pixels": COCO's rasteriser maps a polygon with
    # integer corners [x0, x1] x [y0, y1] to exactly the pixels x0..x1-1, y0..y1-1.
    h, w, x0, y0, x1, y1 = rect
    mask = polygons_to_mask([[x0, y0, x1, y0, x1, y1, x0, y1]], h, w)
    expected = torch.zeros(h, w, dtype=torch.bool)
    expected[y0:y1, x0:x1] = True
    assert torch.equal(mask, expected)
    assert int(mask.sum()) == (x1 - x0) * (y1 - y0)


@FAST
@given(
    h=st.integers(min_value=1, max_value=24),
    w=st.integers(min_value=1, max_value=24),
    data=st.data(),
)
def test_real_rectangle_polygon_area_within_boundary_pixels(h, w, data):
    # Pixels not touched by the rectangle's outline are wholly inside or outside and must be
    # classified right; each touched pixel can be off by one. The outline of a W x H rectangle
    # touches at most 2 (W + H) + 8 pixels.
    xs = sorted(data.draw(st.tuples(*[st.floats(min_value=0.0, max_value=float(w))] * 2)))
    ys = sorted(data.draw(st.tuples(*[st.floats(min_value=0.0, max_value=float(h))] * 2)))
    (x0, x1), (y0, y1) = xs, ys
    assume(x1 - x0 > 1e-6 and y1 - y0 > 1e-6)
    mask = polygons_to_mask([[x0, y0, x1, y0, x1, y1, x0, y1]], h, w)
    bw, bh = x1 - x0, y1 - y0
    assert abs(int(mask.sum()) - bw * bh) <= 2 * (bw + bh) + 8
    # Nothing outside the pixels the rectangle touches.
    outside = torch.ones(h, w, dtype=torch.bool)
    outside[math.floor(y0) : math.ceil(y1), math.floor(x0) : math.ceil(x1)] = False
    assert not (mask & outside).any()


def _erode(mask: torch.Tensor) -> torch.Tensor:
    """4-neighbour erosion, treating outside the image as background."""
    p = F.pad(mask[None, None].float(), (1, 1, 1, 1))[0, 0].bool()
    return p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]


@st.composite
def convex_mask(draw) -> torch.Tensor:
    """A disc or a rectangle of pixels (convex, one piece, no holes)."""
    h = draw(st.integers(min_value=3, max_value=20))
    w = draw(st.integers(min_value=3, max_value=20))
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    if draw(st.booleans()):
        cy = draw(st.floats(min_value=0, max_value=h))
        cx = draw(st.floats(min_value=0, max_value=w))
        r = draw(st.floats(min_value=1.0, max_value=8.0))
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    else:
        x0 = draw(st.integers(min_value=0, max_value=w - 1))
        x1 = draw(st.integers(min_value=x0 + 1, max_value=w))
        y0 = draw(st.integers(min_value=0, max_value=h - 1))
        y1 = draw(st.integers(min_value=y0 + 1, max_value=h))
        mask = (xx >= x0) & (xx < x1) & (yy >= y0) & (yy < y1)
    assume(mask.any())
    return mask


@FAST
@given(mask=convex_mask())
def test_mask_to_polygon_to_mask_loses_at_most_the_boundary(mask):
    # mask -> polygon needs OpenCV, which regionlab does not depend on (data/ uses pillow, numpy
    # and faster-coco-eval), so the conversion lives here, in the test only.
    cv2 = pytest.importorskip("cv2")
    contours, _ = cv2.findContours(
        mask.numpy().astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    assert len(contours) == 1
    # OpenCV traces boundary pixel *indices*; in COCO's frame pixel x spans [x, x + 1), so its
    # centre is x + 0.5.
    pts = contours[0].reshape(-1, 2).astype(np.float64) + 0.5
    polys = [pts.reshape(-1).tolist()] if len(pts) >= 3 else []
    back = polygons_to_mask(polys, *mask.shape)
    assert not (back & ~mask).any()  # never adds pixels
    assert not (_erode(mask) & ~back).any()  # only boundary pixels can be lost


# ---------------------------------------------------------------------------- upsamplers


@FAST
@given(
    kind=st.sampled_from(UPSAMPLERS),
    n=st.integers(min_value=1, max_value=3),
    c_in=st.integers(min_value=1, max_value=6),
    c_out=st.integers(min_value=1, max_value=6),
    h=st.integers(min_value=1, max_value=12),
    w=st.integers(min_value=1, max_value=12),
)
def test_upsamplers_exactly_double(kind, n, c_in, c_out, h, w):
    up = make_upsampler(kind, c_in, c_out)
    x = torch.randn(n, c_in, h, w)
    indices = None
    if kind == "max_unpool":  # indices from the paired pool, which sees c_out channels
        pooled, indices = F.max_pool2d(
            torch.randn(n, c_out, 2 * h, 2 * w), 2, 2, return_indices=True
        )
        assert pooled.shape[-2:] == (h, w)
    with torch.no_grad():
        out = up(x, indices)
    assert out.shape == (n, c_out, 2 * h, 2 * w)


@pytest.mark.parametrize("kind", list(UPSAMPLERS))
@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=2),
    c=st.integers(min_value=1, max_value=4),
    h=st.integers(min_value=1, max_value=12),
    w=st.integers(min_value=1, max_value=12),
    extra_h=st.integers(min_value=0, max_value=1),
    extra_w=st.integers(min_value=0, max_value=1),
)
def test_upsamplers_honour_odd_output_size(kind, n, c, h, w, extra_h, extra_w):
    # A 2x2 pool floors odd sizes (5 -> 2); the decoder asks for the pool's input size back.
    size = (2 * h + extra_h, 2 * w + extra_w)
    up = make_upsampler(kind, c, c)
    x = torch.randn(n, c, h, w)
    indices = None
    if kind == "max_unpool":
        _, indices = F.max_pool2d(torch.randn(n, c, *size), 2, 2, return_indices=True)
    with torch.no_grad():
        out = up(x, indices, output_size=size)
    assert out.shape == (n, c, *size)


def test_bed_of_nails_honours_odd_output_size():
    # Found by the property above: the larger (odd pool input) target used to be ignored.
    x = torch.randn(1, 2, 2, 3)
    out = make_upsampler("bed_of_nails", 2, 2)(x, output_size=(5, 7))
    assert out.shape == (1, 2, 5, 7)
    assert torch.equal(out[:, :, 0:4:2, 0:6:2], x) and out[:, :, 4].abs().sum() == 0
