"""``roi_align_sampled`` and ``roi_align_gathered`` are torchvision's RoIAlign (``aligned=True``,
a fixed sampling ratio): equal values and gradients in float64, boxes across and beyond the
border included; and ``crop_level`` / ``crop_levels`` use them only where a gradient is
wanted."""

from __future__ import annotations

import pytest
import torch
from torchvision.ops import roi_align

from regionlab.ops.roi import crop_level, crop_levels, roi_align_gathered, roi_align_sampled


def _case(dtype=torch.float64, n=3, c=5, h=11, w=9, k=40):
    g = torch.Generator().manual_seed(0)
    fmap = torch.randn(n, c, h, w, generator=g, dtype=dtype)
    image = torch.randint(0, n, (k,), generator=g).to(dtype)  # unsorted, one image left out
    image[image == 1] = 2
    xy = torch.rand(k, 2, generator=g, dtype=dtype) * 110 - 25  # some start outside the map
    wh = torch.rand(k, 2, generator=g, dtype=dtype) * 70
    wh[:3] = 0.0  # degenerate boxes: every sample at one point
    return fmap, torch.cat([image[:, None], xy, xy + wh], 1)


@pytest.mark.parametrize("sampling", [1, 2, 3])
@pytest.mark.parametrize("out", [1, 7])
def test_equals_torchvision_values_and_gradients_in_float64(sampling, out):
    fmap, rows = _case()
    a, b = fmap.clone().requires_grad_(), fmap.clone().requires_grad_()
    want = roi_align(a, rows, out, 1 / 8, sampling_ratio=sampling, aligned=True)
    got = roi_align_sampled(b, rows, out, 1 / 8, sampling)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    weights = torch.randn(want.shape, dtype=want.dtype)
    (want * weights).sum().backward()
    (got * weights).sum().backward()
    torch.testing.assert_close(b.grad, a.grad, rtol=0, atol=1e-11)


def test_channels_last_maps_a_one_pixel_side_and_no_regions():
    fmap, rows = _case(h=1, w=6)
    want = roi_align(fmap, rows, 4, 1 / 4, sampling_ratio=2, aligned=True)
    nhwc = fmap.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(roi_align_sampled(nhwc, rows, 4, 1 / 4, 2), want, rtol=0, atol=1e-12)
    assert roi_align_sampled(fmap, rows[:0], 4, 1 / 4, 2).shape == (0, 5, 4, 4)


def test_crop_level_samples_by_grid_only_for_a_gradient():
    fmap, rows = _case(dtype=torch.float32)
    plain = crop_level(fmap, rows, 7, 8, "align", sampling=2)  # no gradient: torchvision's
    assert torch.equal(plain, roi_align(fmap, rows, 7, 1 / 8, sampling_ratio=2, aligned=True))
    trained = crop_level(fmap.requires_grad_(), rows, 7, 8, "align", sampling=2)
    assert trained.requires_grad
    torch.testing.assert_close(trained, plain, rtol=0, atol=1e-5)  # float32 rounding


def _levels(dtype=torch.float64):
    """Three maps of a pyramid (strides 4, 8, 16; odd sizes) and regions over all of them."""
    g = torch.Generator().manual_seed(1)
    maps = [
        torch.randn(3, 5, h, w, generator=g, dtype=dtype) for h, w in ((23, 17), (12, 9), (6, 5))
    ]
    _, rows = _case(dtype, k=60)
    level = torch.randint(0, 3, (60,), generator=g)
    return maps, rows, level, (4, 8, 16)


@pytest.mark.parametrize("out", [1, 7, 14])
def test_gathered_equals_torchvision_on_every_level_values_and_gradients_in_float64(out):
    maps, rows, level, strides = _levels()
    mine = [m.clone().requires_grad_() for m in maps]
    theirs = [m.clone().requires_grad_() for m in maps]
    want = torch.cat([
        roi_align(theirs[lv], rows[k : k + 1], out, 1 / strides[lv], sampling_ratio=1, aligned=True)
        for k, lv in enumerate(level.tolist())
    ])  # fmt: skip
    got = roi_align_gathered(mine, rows, level, out, strides)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    weights = torch.randn(want.shape, dtype=want.dtype)
    (want * weights).sum().backward()
    (got * weights).sum().backward()
    for a, b in zip(theirs, mine, strict=True):
        torch.testing.assert_close(b.grad, a.grad, rtol=0, atol=1e-11)


def test_gathered_reads_channels_last_maps_in_place_lower_precision_in_float32_no_regions():
    maps, rows, level, strides = _levels(torch.float32)
    want = roi_align_gathered(maps, rows, level, 7, strides)
    nhwc = [m.contiguous(memory_format=torch.channels_last) for m in maps]
    assert torch.equal(roi_align_gathered(nhwc, rows, level, 7, strides), want)
    assert want.is_contiguous(memory_format=torch.channels_last)
    low = roi_align_gathered([m.bfloat16() for m in maps], rows, level, 7, strides)
    assert low.dtype == torch.float32  # as grid_sample under autocast
    torch.testing.assert_close(low, want, rtol=0, atol=0.05)
    assert roi_align_gathered(maps, rows[:0], level[:0], 7, strides).shape == (0, 5, 7, 7)


def test_crop_levels_gathers_for_a_gradient_at_one_sample_else_reads_each_level():
    maps, rows, level, strides = _levels(torch.float32)
    for sampling in (1, 2):
        plain = crop_levels(maps, rows, level, 7, strides, "align", sampling)
        want = torch.cat([
            roi_align(maps[lv], rows[k : k + 1], 7, 1 / strides[lv], sampling_ratio=sampling,
                      aligned=True)
            for k, lv in enumerate(level.tolist())
        ])  # fmt: skip
        assert torch.equal(plain, want)  # no gradient: torchvision's, level by level
        grads = [m.clone().requires_grad_() for m in maps]
        trained = crop_levels(grads, rows, level, 7, strides, "align", sampling)
        assert trained.requires_grad
        torch.testing.assert_close(trained, plain, rtol=0, atol=1e-5)  # float32 rounding
    pooled = crop_levels(maps, rows, level, 3, strides, "pool")
    assert pooled.shape == (60, 5, 3, 3)
