"""Mask R-CNN: Faster R-CNN's parts plus a mask branch; it overfits a few scenes' masks."""

from __future__ import annotations

import pytest
import torch

from regionlab.data.scenes import SceneConfig, SceneDataset
from regionlab.models.detection.rcnn import RegionSpec, build_region_detector
from regionlab.models.instance.mask_rcnn import MaskRCNN, MaskSpec, build_mask_rcnn
from regionlab.ops.detections import Detections

SMALL = dict(widths=[8, 16, 32, 64], depths=[0, 1, 1], stride=8, anchor_sizes=[16.0, 32.0],
             hidden=64, roi_channels=32)  # fmt: skip
# the same on a feature pyramid (strides 4, 8, 16 of that backbone), as the CLI builds it
PYRAMID = dict(widths=[8, 16, 32, 64], depths=[0, 1, 1], fpn=True, fpn_strides=[4, 8, 16],
               anchor_scales=[3.0, 6.0], hidden=64, roi_channels=32)  # fmt: skip


def _mask_iou(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """``(P, H, W)`` probabilities vs ``(T, H, W)`` bool -> best IoU of each truth ``(T,)``."""
    p = pred[:, None] >= 0.5
    inter = (p & truth[None]).flatten(2).sum(-1)
    union = (p | truth[None]).flatten(2).sum(-1).clamp(min=1)
    return (inter / union).amax(0)


@pytest.mark.parametrize("parts", [SMALL, PYRAMID], ids=["one-map", "pyramid"])
def test_mask_rcnn_is_faster_rcnn_plus_a_mask_head(parts):
    spec = MaskSpec("faster-rcnn", 3, mask_size=8, **parts)
    m = build_mask_rcnn(spec)
    f = build_region_detector(RegionSpec("faster-rcnn", 3, **parts))
    assert isinstance(m, MaskRCNN)
    for part in ("proposer", "cropper", "head", "coder"):
        assert type(getattr(m, part)) is type(getattr(f, part)), part
    assert type(m.sampler.matcher) is type(f.sampler.matcher)
    with pytest.raises(ValueError, match="extends faster-rcnn"):
        MaskSpec("fast-rcnn", 3)


@pytest.mark.parametrize(
    "mask_loss, parts, steps",
    # the pyramid's neck adds layers to fit: at 120 steps its boxes are still settling
    [("sigmoid", SMALL, 120), ("softmax", SMALL, 120), ("sigmoid", PYRAMID, 200)],
    ids=["sigmoid", "softmax", "sigmoid-pyramid"],
)
def test_mask_rcnn_overfits_the_masks_of_a_few_scenes(mask_loss, parts, steps):
    torch.manual_seed(0)
    data = SceneDataset(2, config=SceneConfig(size=48, max_objects=2))
    model = build_mask_rcnn(MaskSpec("faster-rcnn", 3, mask_size=12, mask_loss=mask_loss,
                                     mask_width=32, mask_convs=2, **parts))  # fmt: skip
    x = torch.stack([data[i].image for i in range(2)]).float() / 255
    targets = [Detections(data[i].boxes, data[i].labels, masks=data[i].masks) for i in range(2)]
    opt = torch.optim.AdamW(model.parameters(), 3e-3)
    for step in range(steps):
        out = model.train()(x, targets, torch.Generator().manual_seed(step))
        assert set(out.losses) == {"cls", "box", "rpn_cls", "rpn_box", "mask"}
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    with torch.no_grad():
        dets = model.eval()(x).detections
    for det, t in zip(dets, targets):
        assert det.masks.shape == (len(det), 48, 48) and det.masks.dtype == torch.float32
        # every object found at mask IoU >= 0.5 (mask AP50 = 1 on these images), most far better
        iou = _mask_iou(det[: 2 * len(t)].masks, t.masks)
        assert bool((iou >= 0.5).all()) and float(iou.mean()) > 0.75, iou


def test_mask_rcnn_without_target_masks_is_an_error():
    model = build_mask_rcnn(MaskSpec("faster-rcnn", 3, mask_size=8, **SMALL))
    t = [Detections(torch.tensor([[2.0, 2.0, 20.0, 20.0]]), torch.tensor([1]))]
    with pytest.raises(ValueError, match="targets with masks"):
        model(torch.rand(1, 3, 32, 32), t)


def test_keypoint_targets_and_decoding_on_a_hand_made_case():
    from regionlab.ops.masks import keypoint_targets, keypoints_from_heatmaps

    rois = torch.tensor([[10.0, 20.0, 18.0, 28.0]])  # 8 x 8 px, m = 4: cells of 2 px
    kps = torch.tensor([[[11.0, 21.0, 2.0], [17.9, 27.9, 1.0], [30.0, 21.0, 2.0], [12, 22, 0]]])
    index, valid = keypoint_targets(kps, rois, torch.tensor([0]), 4)
    assert index[0, :2].tolist() == [0, 15] and valid[0].tolist() == [True, True, False, False]
    logits = torch.full((1, 2, 4, 4), -20.0)
    logits[0, 0, 0, 0] = logits[0, 1, 3, 3] = 20.0
    out = keypoints_from_heatmaps(logits, rois)
    assert out[0, :, :2].tolist() == [[11.0, 21.0], [17.0, 27.0]]  # centres of the cells
    assert bool((out[0, :, 2] > 0.99).all())


def test_mask_rcnn_keypoint_head_learns_the_scenes_keypoints():
    torch.manual_seed(0)
    data = SceneDataset(2, config=SceneConfig(size=48, max_objects=2))
    k = data[0].keypoints.shape[1]
    model = build_mask_rcnn(MaskSpec("faster-rcnn", 3, mask_size=12, mask_width=32,
                                     mask_convs=2, keypoints=k, **SMALL))  # fmt: skip
    x = torch.stack([data[i].image for i in range(2)]).float() / 255
    targets = [Detections(data[i].boxes, data[i].labels, masks=data[i].masks,
                          keypoints=data[i].keypoints) for i in range(2)]  # fmt: skip
    opt = torch.optim.AdamW(model.parameters(), 3e-3)
    for step in range(120):
        out = model.train()(x, targets, torch.Generator().manual_seed(step))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    assert "keypoint" in out.losses
    with torch.no_grad():
        dets = model.eval()(x).detections
    for det, t in zip(dets, targets):
        assert det.keypoints.shape == (len(det), k, 3)
        from torchvision.ops import box_iou

        j = box_iou(t.boxes, det.boxes).argmax(1)  # the detection of each object
        vis = t.keypoints[..., 2] > 0
        err = (det.keypoints[j, :, :2] - t.keypoints[..., :2]).norm(dim=-1)[vis]
        assert float(err.median()) < 4.0, err  # pixels, on 48 px images, 4 px cells
