"""Mask targets and pasting on hand-made cases: a square survives crop -> resize -> paste."""

from __future__ import annotations

import pytest
import torch

from regionlab.ops.masks import mask_targets, maskness, paste_masks


def _square(h, w, x0, y0, x1, y1) -> torch.Tensor:
    m = torch.zeros(h, w, dtype=torch.bool)
    m[y0:y1, x0:x1] = True
    return m


def test_a_square_survives_crop_resize_paste_within_one_pixel():
    m = _square(64, 80, 20, 10, 52, 42)  # a 32 x 32 square
    for box in ([20.0, 10.0, 52.0, 42.0], [14.0, 6.0, 60.0, 50.0], [25.0, 12.0, 50.0, 40.0]):
        rois = torch.tensor([box])
        t = mask_targets(m[None], rois, torch.tensor([0]), 28)
        back = paste_masks(t, rois, (64, 80)) >= 0.5
        truth = m & (paste_masks(torch.ones(1, 28, 28), rois, (64, 80))[0] > 0)
        diff = back[0] ^ truth
        # every disagreeing pixel lies within one pixel of the square's border
        ys, xs = torch.nonzero(diff, as_tuple=True)
        near_x = ((xs - 20).abs() <= 1) | ((xs - 51).abs() <= 1)
        near_y = ((ys - 10).abs() <= 1) | ((ys - 41).abs() <= 1)
        assert bool((near_x | near_y).all()), (box, len(xs))


def test_targets_read_the_matched_object_only():
    a, b = _square(32, 32, 0, 0, 16, 16), _square(32, 32, 8, 8, 24, 24)
    rois = torch.tensor([[8.0, 8.0, 24.0, 24.0]] * 2)
    t = mask_targets(torch.stack([a, b]), rois, torch.tensor([0, 1]), 4)
    assert t[1].tolist() == [[1.0] * 4] * 4  # object b fills this box
    assert t[0].tolist() == [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]  # a's corner


def test_a_batch_s_targets_are_each_image_s_own():
    """One RoIAlign over every image's objects gives each image's targets exactly (RoIs read
    their own image's objects: indices offset by the objects before them), an image without
    regions included."""
    g = torch.Generator().manual_seed(0)
    masks = [torch.rand(n, 40, 48, generator=g) > 0.5 for n in (3, 1, 2)]
    rois = [
        torch.tensor([[2.0, 3.0, 30.0, 33.0], [10.5, 0.0, 47.0, 20.0]]),
        torch.zeros(0, 4),
        torch.tensor([[0.0, 0.0, 48.0, 40.0], [5.0, 5.0, 9.0, 30.0], [1.0, 2.0, 3.0, 4.0]]),
    ]
    matched = [torch.tensor([2, 0]), torch.zeros(0, dtype=torch.long), torch.tensor([1, 0, 1])]
    each = torch.cat([mask_targets(*args, 14) for args in zip(masks, rois, matched)])
    assert each.shape == (5, 14, 14) and 0 < float(each.mean()) < 1
    assert torch.equal(mask_targets(masks, rois, matched, 14), each)


def test_paste_is_zero_outside_the_box_and_handles_no_masks():
    out = paste_masks(torch.ones(1, 7, 7), torch.tensor([[4.0, 4.0, 12.0, 10.0]]), (16, 16))[0]
    assert torch.allclose(out[4:10, 4:12], torch.ones(6, 8))
    assert float(out.sum()) == pytest.approx(8 * 6)
    assert paste_masks(torch.zeros(0, 7, 7), torch.zeros(0, 4), (5, 6)).shape == (0, 5, 6)
    assert mask_targets(torch.zeros(2, 8, 8, dtype=torch.bool), torch.zeros(0, 4),
                        torch.zeros(0, dtype=torch.long), 5).shape == (0, 5, 5)  # fmt: skip


def test_maskness_is_the_mean_probability_over_the_cells_a_mask_keeps():
    p = torch.tensor([[[0.9, 0.6], [0.2, 0.0]],  # keeps 0.9 and 0.6
                      [[1.0, 1.0], [1.0, 0.5]],  # keeps all four (0.5 is kept)
                      [[0.4, 0.1], [0.0, 0.49]]])  # fmt: skip  # keeps none
    assert maskness(p).tolist() == pytest.approx([0.75, 0.875, 0.0])
    assert maskness(torch.zeros(0, 3, 3)).shape == (0,)


def test_mask_head_losses_on_hand_made_logits():
    from regionlab.models.detection.region_heads import MaskHead

    head = MaskHead(8, num_classes=2, width=4, convs=1)
    assert head(torch.zeros(3, 8, 7, 7)).shape == (3, 2, 14, 14)
    target = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    # sigmoid: only the region's class channel counts; class 1 is scored wrongly on purpose
    logits = torch.stack([torch.full((2, 2), -9.0), torch.tensor([[9.0, -9.0], [-9.0, 9.0]])])
    assert float(head.loss(logits[None], torch.tensor([2]), target)) < 1e-3
    assert float(head.loss(logits[None], torch.tensor([1]), target)) > 4
    assert torch.allclose(head.probabilities(logits[None], torch.tensor([2])), target, atol=1e-3)
    soft = MaskHead(8, num_classes=2, width=4, convs=1, kind="softmax")
    assert soft(torch.zeros(1, 8, 7, 7)).shape == (1, 3, 14, 14)  # background + 2 classes
    even = torch.zeros(1, 3, 2, 2)
    assert float(soft.loss(even, torch.tensor([1]), target)) == pytest.approx(torch.log(
        torch.tensor(3.0)).item())  # fmt: skip


def _every_pixel_paste(masks, boxes, size):
    """paste_masks as a sampling of every pixel of every mask (its form before box spans)."""
    h, w = size
    n = len(masks)
    x1, y1, x2, y2 = boxes.unbind(1)
    gx = ((torch.arange(w) + 0.5)[None] - x1[:, None]) / (x2 - x1).clamp(min=1e-6)[:, None] * 2 - 1
    gy = ((torch.arange(h) + 0.5)[None] - y1[:, None]) / (y2 - y1).clamp(min=1e-6)[:, None] * 2 - 1
    grid = torch.stack([gx[:, None, :].expand(n, h, w), gy[:, :, None].expand(n, h, w)], -1)
    out = torch.nn.functional.grid_sample(masks[:, None], grid, mode="bilinear",
                                          padding_mode="border", align_corners=False)[:, 0]  # fmt: skip
    return out * ((gx.abs() <= 1)[:, None, :] & (gy.abs() <= 1)[:, :, None])


def test_paste_samples_only_the_boxes_pixels_and_gives_every_pixels_values():
    g = torch.Generator().manual_seed(0)
    masks = torch.rand(60, 14, 14, generator=g)
    xy = torch.rand(60, 2, generator=g) * 110 - 15  # some across and beyond the border
    boxes = torch.cat([xy, xy + torch.rand(60, 2, generator=g) * 50 + 0.2], 1)
    boxes[:2] = torch.tensor([[3.0, 3.0, 3.0, 3.0], [200.0, 5.0, 230.0, 20.0]])  # empty, off
    got = paste_masks(masks, boxes, (90, 100))
    assert torch.equal(got, _every_pixel_paste(masks, boxes, (90, 100)))
    assert float(got[1].abs().sum()) == 0
