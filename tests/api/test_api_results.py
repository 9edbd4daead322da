"""Typed results: boxes exported as YOLO lines and COCO entries, class maps and instance maps
as index PNGs, and every result draws itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from regionlab.api.outputs import instance_map
from regionlab.api.results import (
    CaptionResult,
    DetectionResult,
    KeypointResult,
    SegmentationResult,
)

NAMES = ["background", "circle", "square"]
IMAGE = torch.full((3, 100, 200), 128, dtype=torch.uint8)


def _det(**kw) -> DetectionResult:
    base = dict(names=NAMES, path="a.png", image=IMAGE, boxes=torch.tensor([[20.0, 10, 60, 50]]),
                labels=torch.tensor([2]), scores=torch.tensor([0.9]))  # fmt: skip
    return DetectionResult(**{**base, **kw})


def test_yolo_lines_are_zero_based_classes_and_normalised_centres():
    assert _det().to_yolo() == ["1 0.200000 0.300000 0.200000 0.400000 0.900000"]


def test_coco_entries_are_xywh_with_the_label_as_category():
    (entry,) = _det().to_coco(7)
    assert entry["image_id"] == 7 and entry["category_id"] == 2
    assert entry["bbox"] == pytest.approx([20, 10, 40, 40]) and entry["score"] == pytest.approx(0.9)
    assert _det().to_coco(7, {2: 18})[0]["category_id"] == 18


def test_masks_ranked_apart_keep_their_scores_in_coco_entries_and_under_max_det():
    from regionlab.api.predictor import _top

    masks = torch.zeros(2, 100, 200, dtype=torch.bool)
    masks[:, 10:50, 20:60] = True
    r = _det(
        boxes=torch.tensor([[20.0, 10, 60, 50]] * 2),
        labels=torch.tensor([2, 1]),
        scores=torch.tensor([0.9, 0.8]),
        masks=masks,
        mask_scores=torch.tensor([0.3, 0.7]),
    )
    assert [e["mask_score"] for e in r.to_coco(7)] == pytest.approx([0.3, 0.7])
    top = _top(r, 1)
    assert len(top) == 1 and top.mask_scores.tolist() == pytest.approx([0.3])
    assert top.masks.shape == (1, 100, 200) and top.detections().mask_scores is not None


def test_a_detection_knows_its_class_names_and_size_and_draws_itself():
    r = _det()
    assert r.class_names == ["square"] and r.image_size == (100, 200) and len(r) == 1
    masks = torch.zeros(1, 100, 200, dtype=torch.bool)
    masks[0, 10:50, 20:60] = True
    for res in (r, _det(masks=masks)):
        pic = res.plot()
        assert isinstance(pic, Image.Image) and pic.width >= 200 and pic.height >= 100
    assert "segmentation" in _det(masks=masks).to_coco(1)[0]


def test_a_class_map_png_holds_class_indices():
    cmap = torch.tensor([[0, 1], [2, 1]])
    r = SegmentationResult(NAMES, None, torch.zeros(3, 2, 2, dtype=torch.uint8), class_map=cmap)
    assert np.array_equal(np.asarray(r.to_png()), cmap.numpy())
    assert r.records(0) is None  # a class map is a picture, not JSON
    assert r.plot().width > 2


def test_an_instance_map_gives_overlaps_to_the_better_object():
    masks = torch.zeros(2, 4, 4, dtype=torch.bool)
    masks[0, :2] = True  # best first
    masks[1, 1:] = True
    ids = np.asarray(instance_map(masks))
    assert ids[:, 0].tolist() == [1, 1, 2, 2]


def test_other_results_write_json_records():
    img = torch.zeros(3, 8, 8, dtype=torch.uint8)
    cap = CaptionResult([], "a.png", img, caption="a red circle")
    assert cap.records("a.png") == [{"image_id": "a.png", "caption": "a red circle"}]
    kp = KeypointResult(["background", "x"], "a.png", img, keypoints=torch.tensor([[1.0, 2.0]]),
                        visible=torch.tensor([0.5]))  # fmt: skip
    assert kp.records(3) == [{"image_id": 3, "keypoints": [1.0, 2.0, 0.5]}]
    assert cap.plot().width >= 8 and kp.plot().width == 8
