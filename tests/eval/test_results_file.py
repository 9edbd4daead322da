"""Detections through a COCO results file and back: the same boxes, labels, scores and masks,
scored alike; a malformed file is an error naming it and the entry."""

from __future__ import annotations

import json

import pytest
import torch

from regionlab.eval.results_file import read_results, write_results
from regionlab.ops.detections import Detections
from regionlab.tasks.detection import coco_metrics


def _dets(boxes, scores, masks=None):
    return Detections(torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                      torch.ones(len(boxes), dtype=torch.int64),
                      torch.tensor(scores, dtype=torch.float32), masks)  # fmt: skip


def test_boxes_labels_scores_and_masks_come_back(tmp_path):
    m = torch.zeros(2, 8, 10, dtype=torch.bool)
    m[0, 1:4, 2:6] = True
    m[1, 5:8, 0:3] = True
    preds = [_dets([[2, 1, 6, 4], [0, 5, 3, 8]], [0.5, 0.9], m),
             _dets([], [], torch.zeros(0, 6, 6, dtype=torch.bool))]  # fmt: skip
    path = write_results(tmp_path / "p.json", preds, [(8, 10), (6, 6)], "scenes:n=2")
    spec, back = read_results(path)
    assert spec == "scenes:n=2" and len(back) == 2
    assert back[0].scores.tolist() == pytest.approx([0.9, 0.5])  # best first
    assert torch.equal(back[0].boxes, torch.tensor([[0.0, 5, 3, 8], [2, 1, 6, 4]]))
    assert torch.equal(back[0].masks, m.flip(0)) and back[1].masks.shape == (0, 6, 6)
    assert back[0].labels.tolist() == [1, 1] and len(back[1].boxes) == 0


def test_masks_ranked_apart_from_their_boxes_come_back_with_their_scores(tmp_path):
    m = torch.zeros(2, 8, 10, dtype=torch.bool)
    m[0, 1:4, 2:6] = True
    m[1, 5:8, 0:3] = True
    pred = _dets([[2, 1, 6, 4], [0, 5, 3, 8]], [0.5, 0.9], m)
    pred.mask_scores = torch.tensor([0.4, 0.2])
    _, back = read_results(write_results(tmp_path / "p.json", [pred], [(8, 10)], "x"))
    assert back[0].scores.tolist() == pytest.approx([0.9, 0.5])  # best box first
    assert back[0].mask_scores.tolist() == pytest.approx([0.2, 0.4])  # in step with it
    _, plain = read_results(write_results(tmp_path / "q.json", [_dets([[0, 0, 2, 2]], [1], m[:1])],
                                          [(8, 10)], "x"))  # fmt: skip
    assert plain[0].mask_scores is None


def test_read_back_predictions_score_as_the_originals(tmp_path):
    truth = [_dets([[10, 10, 50, 60]], [1.0]), _dets([[5, 5, 20, 30], [30, 30, 60, 60]], [1, 1])]
    preds = [_dets([[12, 9, 49, 61], [0, 0, 8, 8]], [0.8, 0.3]),
             _dets([[5, 6, 21, 30]], [0.7])]  # fmt: skip
    sizes = [(64, 64), (64, 64)]
    _, back = read_results(write_results(tmp_path / "p.json", preds, sizes, "x"))
    gts = [Detections(t.boxes, t.labels, iscrowd=torch.zeros(len(t.boxes), dtype=torch.bool))
           for t in truth]  # fmt: skip
    ours = coco_metrics(preds, gts, sizes, ["background", "thing"])
    again = coco_metrics(back, gts, sizes, ["background", "thing"])
    assert again == pytest.approx(ours, nan_ok=True) and 0 < ours["AP50"] < 1


def test_a_malformed_entry_is_named(tmp_path):
    path = tmp_path / "p.json"
    doc = {
        "spec": "x",
        "images": [{"id": 0, "height": 4, "width": 4}],
        "results": [{"image_id": 3, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}],
    }
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"p\.json: results\[0\]: needs an image_id of 0\.\.0"):
        read_results(path)
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"p\.json: expected an object"):
        read_results(path)


def test_class_maps_come_back_exactly_and_are_not_read_as_boxes(tmp_path):
    from regionlab.eval.results_file import read_class_maps, write_class_maps

    maps = [torch.randint(0, 4, (5, 7)), torch.zeros(3, 2, dtype=torch.int64)]
    path = write_class_maps(tmp_path / "m.json", maps, "scenes:n=2")
    spec, back = read_class_maps(path)
    assert spec == "scenes:n=2" and all(torch.equal(a, b) for a, b in zip(maps, back))
    with pytest.raises(ValueError, match=r"m\.json: holds class_maps, not detections"):
        read_results(path)
