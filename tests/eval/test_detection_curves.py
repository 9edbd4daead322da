"""Detection diagnostics on hand-made cases whose answers are known: the confusion matrix with
its background row and column, F1 against confidence, errors per image, and COCO's PR arrays
as curves per class."""

from __future__ import annotations

import math

import numpy as np
import torch

from regionlab.eval.detection_curves import (
    confusion,
    errors_per_image,
    f1_confidence,
    match_by_class,
    pr_curves,
)
from regionlab.ops.detections import Detections

CLASSES = ["background", "cat", "dog"]


def _det(boxes, labels, scores=None) -> Detections:
    b = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    s = None if scores is None else torch.tensor(scores, dtype=torch.float32)
    return Detections(b, torch.tensor(labels, dtype=torch.int64), s)


# one image: a cat found, a dog called a cat, a false alarm, and a missed dog
TRUTH = [_det([[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]], [1, 2, 2])]
PRED = [_det([[0, 0, 10, 10], [20, 20, 30, 31], [60, 0, 70, 10]], [1, 1, 2], [0.9, 0.8, 0.6])]


def test_confusion_counts_right_wrong_missed_and_false_alarms():
    m = confusion(PRED, TRUTH, 3, iou=0.5, conf=0.25)
    expected = np.array(
        [
            [0, 0, 1],  # background: the false alarm, predicted dog
            [0, 1, 0],  # cat: found
            [1, 1, 0],
        ]
    )  # dog: one called a cat, one missed (fmt: skip)
    np.testing.assert_array_equal(m, expected)
    # below the confidence threshold a prediction does not count at all
    m = confusion(PRED, TRUTH, 3, iou=0.5, conf=0.7)
    np.testing.assert_array_equal(m, [[0, 0, 0], [0, 1, 0], [1, 1, 0]])


def test_f1_against_confidence_per_class_and_pooled():
    matched = match_by_class(PRED, TRUTH, 3)
    assert matched[1].n_true == 1 and matched[1].hit.tolist() == [True, False]
    assert matched[2].n_true == 2 and matched[2].hit.tolist() == [False]
    f1 = f1_confidence(matched, np.array([0.0, 0.85, 0.95]))
    # cat at 0: tp 1, fp 1, fn 0 -> 2/3; at .85: tp 1 -> 1; at .95: nothing kept -> 0
    np.testing.assert_allclose(f1[1], [2 / 3, 1.0, 0.0])
    np.testing.assert_allclose(f1[2], [0.0, 0.0, 0.0])
    # all classes: tp 1, fp 2, fn 2 at 0 -> 2 / (2 + 2 + 2)
    np.testing.assert_allclose(f1[0][0], 1 / 3)


def test_errors_per_image_counts_misses_and_false_alarms():
    assert errors_per_image(PRED, TRUTH) == [4]  # wrong class is a miss and a false alarm
    perfect = [_det(TRUTH[0].boxes.tolist(), [1, 2, 2], [1.0] * 3)]
    assert errors_per_image(perfect, TRUTH) == [0]


def test_pr_curves_are_cocos_precision_per_class():
    curves = pr_curves(PRED, TRUTH, [(80, 80)], CLASSES)
    assert curves.names == ["cat", "dog"] and len(curves.recall) == 101
    p50 = curves.at(0.5)  # (R, K)
    assert p50.shape == (101, 2)
    # cat: the top prediction is right -> precision 1 up to recall 1
    assert np.all(p50[:, 0] == 1.0)
    # dog: no prediction of a dog is right -> precision 0
    assert np.nanmax(p50[:, 1]) == 0.0
    assert curves.ap_by_area["all"][0] == 1.0
    assert math.isnan(curves.ap_by_area["large"][0])  # no large objects: undefined
