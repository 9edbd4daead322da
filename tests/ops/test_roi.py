"""``roi_align_sampled`` is torchvision's RoIAlign (``aligned=True``, a fixed sampling ratio):
equal values and gradients in float64, boxes across and beyond the border included; and
``crop_level`` uses it only where a gradient is wanted."""

from __future__ import annotations

import pytest
import torch
from torchvision.ops import roi_align

from regionlab.ops.roi import crop_level, roi_align_sampled


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
