"""Detection metrics: VOC AP (``eval.voc``) on hand-computed cases, COCO AP against
pycocotools."""

import contextlib
import copy
import io
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from regionlab.eval.detection import (
    coco_evaluate,
    to_coco_ground_truth,
    to_coco_results,
)
from regionlab.eval.voc import voc_ap, voc_evaluate
from regionlab.ops.detections import Detections

CLASSES = ["background", "cat", "dog", "bird"]
CAT_IDS = {1: 3, 2: 7, 3: 11}  # non-contiguous, as in COCO's own files
COCO_STATS = [
    "AP",
    "AP50",
    "AP75",
    "AP_small",
    "AP_medium",
    "AP_large",
    "AR1",
    "AR10",
    "AR100",
    "AR_small",
    "AR_medium",
    "AR_large",
]


def _gt(boxes, labels, iscrowd=None, masks=None) -> Detections:
    n = len(labels)
    return Detections(
        torch.tensor(boxes, dtype=torch.float32).reshape(n, 4),
        torch.tensor(labels, dtype=torch.int64),
        masks=masks,
        iscrowd=None if iscrowd is None else torch.tensor(iscrowd, dtype=torch.bool),
    )


def _pred(boxes, labels, scores, masks=None) -> Detections:
    n = len(labels)
    return Detections(
        torch.tensor(boxes, dtype=torch.float32).reshape(n, 4),
        torch.tensor(labels, dtype=torch.int64),
        torch.tensor(scores, dtype=torch.float32),
        masks=masks,
    )


# --------------------------------------------------------------------------- VOC

# One class, 4 non-difficult objects (+1 difficult), detections in score order:
#   d1 TP, d2 FP, d3 TP, d4 on the difficult object (dropped), d5 FP (its object is taken),
#   d6 TP, d7 FP (IoU 0.4); one object is never found.
#   cumulative tp: 1 1 2 2 3 3  -> recall    1/4 1/4 1/2 1/2 3/4 3/4
#   cumulative fp: 0 1 1 2 2 3  -> precision 1   1/2 2/3 1/2 3/5 1/2
REC = [0.25, 0.25, 0.5, 0.5, 0.75, 0.75]
PREC = [1.0, 0.5, 2 / 3, 0.5, 0.6, 0.5]
# 11-point: best precision at recall >= t for t = 0, .1, ..., 1:
#   t = 0, .1, .2 -> 1;  t = .3, .4, .5 -> 2/3;  t = .6, .7 -> 0.6;  t = .8, .9, 1 -> 0
#   (3 * 1 + 3 * 2/3 + 2 * 0.6) / 11 = 6.2 / 11
AP_07 = 6.2 / 11
# All-point: the envelope is 1 on (0, 1/4], 2/3 on (1/4, 1/2], 0.6 on (1/2, 3/4], 0 beyond:
#   1/4 * (1 + 2/3 + 0.6) = 1/4 * 34/15 = 17/30
AP_ALL = 17 / 30


def test_voc_ap_on_hand_computed_curve():
    assert voc_ap(REC, PREC, use_07_metric=True) == pytest.approx(AP_07, abs=1e-12)
    assert voc_ap(torch.tensor(REC), torch.tensor(PREC, dtype=torch.float64), False) == (
        pytest.approx(AP_ALL, abs=1e-12)
    )


def test_voc_ap_counts_a_recall_of_exactly_three_tenths_at_the_point_three():
    # np.arange(0, 1.1, 0.1)[3] is 0.30000000000000004 > 3/10; the exact point must count it.
    assert voc_ap([3 / 10], [1.0], use_07_metric=True) == pytest.approx(4 / 11, abs=1e-12)
    assert voc_ap([], [], use_07_metric=True) == 0.0
    assert voc_ap([], [], use_07_metric=False) == 0.0


def _voc_scene() -> tuple[list[Detections], list[Detections]]:
    """The hand example above for "cat" (plus a perfect "dog" and a difficult-only "bird")."""
    targets = [
        _gt(
            [[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10], [0, 50, 20, 70]],
            [1, 1, 1, 2],
            iscrowd=[False, False, True, False],  # the cat at x = 40 is difficult
        ),
        _gt([[0, 0, 10, 10], [50, 50, 60, 60], [70, 70, 90, 90]], [1, 1, 3], [False, False, True]),
    ]
    a = [
        ([0, 0, 10, 10], 1, 0.9),  # d1: TP
        ([40, 0, 50, 10], 1, 0.6),  # d4: the difficult cat -> neither TP nor FP
        ([1, 0, 11, 10], 1, 0.5),  # d5: IoU 90/110 with the cat d1 took -> FP
        ([20, 0, 30, 10], 1, 0.4),  # d6: TP
        ([0, 50, 20, 70], 2, 0.8),  # the dog: TP
    ]
    b = [
        ([100, 100, 110, 110], 1, 0.8),  # d2: overlaps nothing -> FP
        ([0, 0, 10, 10], 1, 0.7),  # d3: TP
        ([0, 0, 4, 10], 1, 0.3),  # d7: IoU 40/100 < 0.5 -> FP
        ([70, 70, 90, 90], 3, 0.9),  # the difficult bird
    ]
    preds = [_pred(*map(list, zip(*dets))) for dets in (a, b)]
    return preds, targets


@pytest.mark.parametrize(("use_07", "cat_ap"), [(True, AP_07), (False, AP_ALL)])
def test_voc_evaluate_with_difficult_objects(use_07, cat_ap):
    preds, targets = _voc_scene()
    m = voc_evaluate(preds, targets, CLASSES, use_07_metric=use_07)
    assert m["AP/cat"] == pytest.approx(cat_ap, abs=1e-12)
    assert m["AP/dog"] == 1.0
    assert math.isnan(m["AP/bird"])  # only a difficult object: no positives, left out of mAP
    assert m["mAP"] == pytest.approx((cat_ap + 1.0) / 2, abs=1e-12)


def test_voc_evaluate_without_detections_and_with_the_wrong_class():
    _, targets = _voc_scene()
    none = voc_evaluate([Detections.empty(), Detections.empty()], targets, CLASSES)
    assert none["AP/cat"] == 0.0 and none["mAP"] == 0.0
    # The dog's box, perfectly placed but called a cat: no dog found, one more false cat.
    wrong = [_pred([[0, 50, 20, 70]], [1], [0.9]), Detections.empty()]
    m = voc_evaluate(wrong, targets, CLASSES)
    assert m["AP/dog"] == 0.0 and m["AP/cat"] == 0.0


# --------------------------------------------------------------------------- COCO vs pycocotools


def _pycocotools_eval(gt: dict, results: list[dict], iou_type: str, max_dets: list[int]):
    pytest.importorskip("pycocotools", reason="pycocotools is the reference COCO evaluator")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        ev = COCOeval(coco_gt, coco_gt.loadRes(copy.deepcopy(results)), iou_type)
        ev.params.maxDets = max_dets
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def _nan_for_missing(x: float) -> float:
    return float("nan") if x == -1 else float(x)


def _class_ap(ev, k: int) -> float:
    s = ev.eval["precision"][:, :, k, 0, -1]
    return float(np.mean(s[s > -1])) if (s > -1).any() else float("nan")


def _box(g: torch.Generator, h: int, w: int, side: tuple[int, int]) -> list[float]:
    bw, bh = (float(torch.randint(side[0], side[1], (1,), generator=g)) for _ in range(2))
    x = float(torch.rand(1, generator=g)) * (w - bw)
    y = float(torch.rand(1, generator=g)) * (h - bh)
    return [x, y, x + bw, y + bh]


SIDES = [(6, 30), (36, 90), (100, 200)]  # small, medium, large (area 32^2 and 96^2 apart)
SIZES = [(480, 640), (300, 200), (512, 512), (240, 320), (400, 600), (256, 256), (360, 480)]


def _box_scene(seed: int = 0) -> tuple[list[Detections], list[Detections]]:
    """Seeded boxes of all sizes and 3 classes, with crowds, an image with neither ground truth
    nor predictions (1), one with only ground truth (2), one with only predictions (3) and one
    with more than 100 predictions (4)."""
    g = torch.Generator().manual_seed(seed)
    preds, targets = [], []
    for i, (h, w) in enumerate(SIZES):
        n_obj = 0 if i in (1, 3) else int(torch.randint(3, 9, (1,), generator=g))
        boxes = [_box(g, h, w, SIDES[j % 3]) for j in range(n_obj)]
        labels = [int(torch.randint(1, 4, (1,), generator=g)) for _ in range(n_obj)]
        crowd = [False] * n_obj
        if i in (0, 5):  # a crowd region, with predictions inside it
            boxes.append([10.0, 10.0, 150.0, 150.0])
            labels.append(1)
            crowd.append(True)
        targets.append(_gt(boxes, labels, crowd))

        pb, pl, ps = [], [], []
        if i not in (1, 2):
            for box, label in zip(boxes, labels):  # IoU from about 0.4 to 1, mostly right
                jitter = (torch.rand(4, generator=g) - 0.5) * 0.25 * (box[2] - box[0])
                pb.append([c + float(d) for c, d in zip(box, jitter)])
                wrong = float(torch.rand(1, generator=g)) < 0.15
                pl.append(label % 3 + 1 if wrong else label)
                ps.append(0.3 + 0.7 * float(torch.rand(1, generator=g)))
            n_extra = 130 if i == 4 else 5
            for j in range(n_extra):  # false positives, mostly with lower scores
                pb.append(_box(g, h, w, SIDES[j % 3]))
                pl.append(int(torch.randint(1, 4, (1,), generator=g)))
                ps.append(0.6 * float(torch.rand(1, generator=g)))
            if i in (0, 5):
                pb += [[20.0 + 10 * k, 20.0, 40.0 + 10 * k, 45.0] for k in range(4)]
                pl += [1] * 4
                ps += torch.rand(4, generator=g).tolist()
        preds.append(_pred(pb, pl, ps) if pb else Detections.empty())
    return preds, targets


@pytest.mark.parametrize("label_to_cat_id", [None, CAT_IDS])
def test_coco_box_ap_matches_pycocotools(label_to_cat_id):
    preds, targets = _box_scene()
    assert len(preds[4]) > 100 and len(preds[1]) == len(targets[1]) == 0
    ours = coco_evaluate(preds, targets, SIZES, CLASSES, label_to_cat_id=label_to_cat_id)

    gt = to_coco_ground_truth(targets, SIZES, CLASSES, label_to_cat_id=label_to_cat_id)
    res = to_coco_results(preds, range(len(preds)), label_to_cat_id)
    ref = _pycocotools_eval(gt, res, "bbox", [1, 10, 100])
    expected = [_nan_for_missing(s) for s in ref.stats]
    np.testing.assert_allclose([ours[k] for k in COCO_STATS], expected, rtol=0, atol=1e-12)
    assert 0.05 < ours["AP"] < 0.95  # a meaningful, non-degenerate comparison
    assert not any(math.isnan(ours[k]) for k in COCO_STATS)  # every area range is exercised
    for k, cat in enumerate(ref.params.catIds):
        name = next(c["name"] for c in gt["categories"] if c["id"] == cat)
        assert ours[f"AP/{name}"] == pytest.approx(_class_ap(ref, k), abs=1e-12)


def test_coco_size_split_reads_each_object_s_stated_area_as_pycocotools_does():
    """pycocotools sizes a ground-truth object by its annotation's ``area`` (a COCO file's
    polygon area, not its box): a thin diagonal object with a medium box is small. Targets
    carrying ``area`` score exactly as pycocotools on a file stating those areas."""
    preds, targets = _box_scene(seed=2)
    g = torch.Generator().manual_seed(3)
    stated = []
    for t in targets:
        b = t.boxes.double()
        box_area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        stated.append(
            box_area * (0.05 + 0.95 * torch.rand(len(t), generator=g, dtype=torch.float64))
        )
    with_area = [replace(t, area=a) for t, a in zip(targets, stated)]
    ours = coco_evaluate(preds, with_area, SIZES, CLASSES)

    gt = to_coco_ground_truth(targets, SIZES, CLASSES)  # the box areas, then the file's own
    for ann, a in zip(gt["annotations"], torch.cat(stated).tolist()):
        ann["area"] = a
    ref = _pycocotools_eval(gt, to_coco_results(preds, range(len(preds))), "bbox", [1, 10, 100])
    expected = [_nan_for_missing(s) for s in ref.stats]
    np.testing.assert_allclose([ours[k] for k in COCO_STATS], expected, rtol=0, atol=1e-12)
    by_box = coco_evaluate(preds, targets, SIZES, CLASSES)
    assert by_box["AP_small"] != ours["AP_small"]  # the areas moved objects between sizes
    assert by_box["AP"] == ours["AP"]  # and nothing else


def test_coco_max_dets_matches_pycocotools():
    preds, targets = _box_scene(seed=1)
    ours = coco_evaluate(preds, targets, SIZES, CLASSES, max_dets=20)
    gt = to_coco_ground_truth(targets, SIZES, CLASSES)
    ref = _pycocotools_eval(gt, to_coco_results(preds, range(len(preds))), "bbox", [1, 10, 20])
    # pycocotools' stats[0] always asks for maxDets=100 (-1 here), so AP comes from its array.
    prec = ref.eval["precision"][..., 0, -1]
    assert ours["AP"] == pytest.approx(float(np.mean(prec[prec > -1])), abs=1e-12)
    names = [k.replace("AR100", "AR20") for k in COCO_STATS[1:]]
    expected = [_nan_for_missing(s) for s in ref.stats[1:]]
    np.testing.assert_allclose([ours[k] for k in names], expected, rtol=0, atol=1e-12)
    assert ours["AP"] != coco_evaluate(preds, targets, SIZES, CLASSES)["AP"]


def _disc(h: int, w: int, cy: float, cx: float, r: float) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r**2


def _mask_box(m: torch.Tensor) -> list[float]:
    ys, xs = torch.nonzero(m, as_tuple=True)
    if not len(xs):
        return [0.0, 0.0, 0.0, 0.0]
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]


def test_coco_mask_ap_matches_pycocotools():
    g = torch.Generator().manual_seed(3)
    sizes = [(200, 240), (160, 200), (64, 64)]
    preds, targets = [], []
    for i, (h, w) in enumerate(sizes):
        n = 4
        centres = torch.rand(n, 2, generator=g) * torch.tensor([h, w])
        centres[2] = torch.tensor([h / 2, w / 2])
        radii = [3.0, 8.0, 0.4 * min(h, w), 20.0]  # small, small, large (medium at 64^2), medium
        gt_masks = torch.stack([_disc(h, w, *c.tolist(), r) for c, r in zip(centres, radii)])
        labels = torch.randint(1, 3, (n,), generator=g).tolist()
        crowd = [False, False, False, i == 0]
        targets.append(_gt([_mask_box(m) for m in gt_masks], labels, crowd, masks=gt_masks))
        # Float probabilities: the object shifted a little, plus one spurious blob.
        shift = (torch.rand(n + 1, 2, generator=g) - 0.5) * 8
        centres = torch.cat([centres, torch.tensor([[h / 2, w / 2]])]) + shift
        radii = [*radii, 10.0]
        probs = torch.stack(
            [_disc(h, w, *c.tolist(), r).float() * 0.9 for c, r in zip(centres, radii)]
        )
        probs[2, : h // 3] /= 2  # 0.45, below the threshold: not part of the mask
        boxes = [_mask_box(m >= 0.5) for m in probs]
        scores = torch.rand(n + 1, generator=g).tolist()
        preds.append(_pred(boxes, [*labels, 1], scores, masks=probs))

    ours = coco_evaluate(preds, targets, sizes, CLASSES, iou_type="segm")
    gt = to_coco_ground_truth(targets, sizes, CLASSES, iou_type="segm")
    res = to_coco_results(preds, range(len(preds)))
    for r in res:  # as coco_evaluate does, so detections are sized by mask area
        del r["bbox"]
    ref = _pycocotools_eval(gt, res, "segm", [1, 10, 100])
    expected = [_nan_for_missing(s) for s in ref.stats]
    np.testing.assert_allclose([ours[k] for k in COCO_STATS], expected, rtol=0, atol=1e-12)
    assert 0.05 < ours["AP"] < 1.0
    assert not any(math.isnan(ours[k]) for k in COCO_STATS)  # every area range is exercised
    assert ours != coco_evaluate(preds, targets, sizes, CLASSES)  # masks matter


def test_masks_rank_by_their_own_scores_and_boxes_by_theirs():
    # one object; detection A has its box right and its mask wrong, B the other way round.
    # Boxes rank A first (score 0.9 > 0.5), masks rank B first (mask score 0.8 > 0.1): each
    # metric then sees its true positive first, AP 1. Masks ranked by the box score see A's
    # wrong mask first: precision 1/2 at recall 1.
    size = [(40, 40)]
    mask = torch.zeros(1, 40, 40, dtype=torch.bool)
    mask[0, 5:25, 5:25] = True
    truth = [_gt([[5, 5, 25, 25]], [1], masks=mask)]
    wrong = torch.zeros(40, 40)
    wrong[30:40, 30:40] = 1.0
    probs = torch.stack([wrong, mask[0].float()])
    pred = _pred([[5, 5, 25, 25], [30, 30, 40, 40]], [1, 1], [0.9, 0.5], masks=probs)
    split = replace(pred, mask_scores=torch.tensor([0.1, 0.8]))
    for p in (pred, split):
        assert coco_evaluate([p], truth, size, CLASSES)["AP50"] == pytest.approx(1.0)
    assert coco_evaluate([split], truth, size, CLASSES, iou_type="segm")["AP50"] == 1.0
    assert coco_evaluate([pred], truth, size, CLASSES, iou_type="segm")["AP50"] == pytest.approx(
        0.5
    )
    entries = to_coco_results([split], [7])  # a user's file keeps both
    assert [e["score"] for e in entries] == pytest.approx([0.9, 0.5])
    assert [e["mask_score"] for e in entries] == pytest.approx([0.1, 0.8])
    ranked = to_coco_results([split], [7], rank_masks=True)  # a file for COCO's segm tools
    assert [e["score"] for e in ranked] == pytest.approx([0.1, 0.8])
    assert "mask_score" not in to_coco_results([split], [7], masks=False)[0]


# --------------------------------------------------------------------------- COCO hand cases

HAND_SIZES = [(200, 200), (200, 200)]
HAND_TARGETS = [
    _gt([[10, 10, 110, 110], [120, 20, 180, 60]], [1, 2]),  # a large cat, a medium dog
    _gt([[5, 5, 25, 25]], [1]),  # a small cat
]


def test_coco_perfect_predictions_score_one():
    preds = [_pred(t.boxes.tolist(), t.labels.tolist(), [0.9] * len(t)) for t in HAND_TARGETS]
    m = coco_evaluate(preds, HAND_TARGETS, HAND_SIZES, CLASSES)
    for k in [*COCO_STATS[:6], "AR10", "AR100", "AR_small", "AR_medium", "AR_large"]:
        assert m[k] == 1.0, k
    assert m["AR1"] == 1.0  # one object per class per image, so one detection each suffices
    assert m["AP/cat"] == m["AP/dog"] == 1.0
    assert math.isnan(m["AP/bird"])  # no birds: undefined, not 0


def test_coco_no_predictions_score_zero():
    m = coco_evaluate([Detections.empty()] * 2, HAND_TARGETS, HAND_SIZES, CLASSES)
    assert m["AP"] == m["AP50"] == m["AR100"] == m["AP/cat"] == 0.0
    empty = coco_evaluate([Detections.empty()], [_gt([], [])], [(50, 50)], CLASSES)
    assert math.isnan(empty["AP"])  # nothing to find: undefined rather than a crash


def test_coco_wrong_class_scores_zero_for_that_class():
    cat, dog = HAND_TARGETS[0].boxes.tolist()
    preds = [_pred([cat, dog], [1, 1], [0.9, 0.8]), _pred([[5, 5, 25, 25]], [1], [0.9])]
    m = coco_evaluate(preds, HAND_TARGETS, HAND_SIZES, CLASSES, label_to_cat_id=CAT_IDS)
    assert m["AP/dog"] == 0.0
    assert m["AP/cat"] == 1.0  # the false cat ranks below both true ones
    assert m["AP"] == pytest.approx(0.5)


def test_coco_crowd_regions_are_ignored():
    targets = [_gt([[10, 10, 110, 110], [120, 0, 200, 200]], [1, 1], iscrowd=[False, True])]
    # The cat, and three detections inside the crowd: neither true nor false positives.
    boxes = [[10, 10, 110, 110], [130, 10, 150, 40], [150, 60, 190, 120], [120, 0, 200, 200]]
    preds = [_pred(boxes, [1] * 4, [0.5, 0.9, 0.8, 0.7])]
    assert coco_evaluate(preds, targets, [(200, 200)], CLASSES)["AP"] == 1.0


def test_coco_json_conversion():
    gt = to_coco_ground_truth(HAND_TARGETS, HAND_SIZES, CLASSES, label_to_cat_id=CAT_IDS)
    assert gt["images"][1] == {"id": 1, "height": 200, "width": 200}
    assert gt["categories"] == [
        {"id": 3, "name": "cat"},
        {"id": 7, "name": "dog"},
        {"id": 11, "name": "bird"},
    ]
    dog = gt["annotations"][1]
    assert dog["bbox"] == [120.0, 20.0, 60.0, 40.0] and dog["area"] == 2400.0
    assert dog["category_id"] == 7 and dog["iscrowd"] == 0 and dog["id"] == 2

    masks = torch.zeros(1, 4, 6)
    masks[0, 1:3, 2:5] = 0.7
    pred = _pred([[2, 1, 5, 3]], [2], [0.25], masks=masks)
    (res,) = to_coco_results([pred], [42], CAT_IDS)
    assert res["image_id"] == 42 and res["category_id"] == 7 and res["score"] == 0.25
    assert res["bbox"] == [2.0, 1.0, 3.0, 2.0]
    assert res["segmentation"]["size"] == [4, 6] and isinstance(res["segmentation"]["counts"], str)
    assert "segmentation" not in to_coco_results([pred], [42], masks=False)[0]


def test_coco_rejects_background_and_unknown_labels():
    preds = [_pred([[0, 0, 5, 5]], [0], [0.5]), Detections.empty()]
    with pytest.raises(ValueError, match="background"):
        coco_evaluate(preds, HAND_TARGETS, HAND_SIZES, CLASSES)
    with pytest.raises(ValueError, match="masks"):
        coco_evaluate([Detections.empty()] * 2, HAND_TARGETS, HAND_SIZES, CLASSES, iou_type="segm")


def test_coco_segm_rejects_masks_at_another_resolution():
    target_mask = torch.zeros(1, 50, 50, dtype=torch.bool)
    target_mask[0, 10:30, 10:30] = True
    targets = [_gt([[10, 10, 30, 30]], [1], masks=target_mask)]
    preds = [_pred([[10, 10, 30, 30]], [1], [0.9], masks=torch.ones(1, 40, 40))]
    with pytest.raises(ValueError, match=r"predictions\[0\]\.masks are \(40, 40\)"):
        coco_evaluate(preds, targets, [(50, 50)], CLASSES, iou_type="segm")


def _rect(h: int, w: int, x1: int, y1: int, x2: int, y2: int) -> torch.Tensor:
    m = torch.zeros(h, w, dtype=torch.bool)
    m[y1:y2, x1:x2] = True
    return m


def test_mask_ap_on_a_hand_computed_example():
    # Two cats of 20 x 10 px. The first prediction covers 15 of the first cat's 20 columns
    # (mask IoU 150 / 200 = 0.75); the second covers 10 columns of the other cat and 10 of
    # the empty space beside it (IoU 100 / 300 = 1/3). At IoU 0.5: a hit, then a miss, so
    # precision 1 up to recall 1/2 and 0 after: 51 of COCO's 101 recall points (0, 0.01, ..,
    # 0.5) -> AP50 = 51 / 101. At 0.75 the first still counts (IoU exactly 0.75).
    h, w = 40, 80
    gt = [_rect(h, w, 0, 0, 20, 10), _rect(h, w, 40, 20, 60, 30)]
    pred = [_rect(h, w, 0, 0, 15, 10), _rect(h, w, 50, 20, 70, 30)]
    target = _gt([_mask_box(m) for m in gt], [1, 1], masks=torch.stack(gt))
    p = _pred([_mask_box(m) for m in pred], [1, 1], [0.9, 0.8], masks=torch.stack(pred).float())
    m = coco_evaluate([p], [target], [(h, w)], CLASSES, iou_type="segm")
    assert m["AP50"] == pytest.approx(51 / 101, abs=1e-12)
    assert m["AP75"] == pytest.approx(51 / 101, abs=1e-12)
    # AP over 0.5:0.95: the first hit counts at 0.50..0.75 (6 of the 10 thresholds).
    assert m["AP"] == pytest.approx(6 / 10 * 51 / 101, abs=1e-12)


def test_predicted_masks_survive_the_rle_round_trip():
    from regionlab.data.rle import rle_to_mask

    h, w = 30, 50
    probs = torch.stack([_disc(h, w, 10, 12, 7).float() * 0.8, _rect(h, w, 30, 5, 49, 29) * 0.6])
    probs[1, :, 30:35] = 0.49  # just below the threshold: not in the mask
    p = _pred([[5, 3, 19, 17], [30, 5, 49, 29]], [1, 2], [0.9, 0.5], masks=probs)
    res = to_coco_results([p], [7])
    for entry, prob in zip(res, probs):
        back = torch.as_tensor(rle_to_mask(entry["segmentation"]), dtype=torch.bool)
        assert torch.equal(back, prob >= 0.5)
        assert entry["image_id"] == 7 and entry["segmentation"]["size"] == [h, w]


def _people(g: torch.Generator, n: int, h: int, w: int, k: int) -> tuple[list, torch.Tensor]:
    """``n`` boxes and ``(n, k, 3)`` keypoints inside them, a few unlabelled (v = 0)."""
    xy = torch.rand(n, 2, generator=g) * torch.tensor([w * 0.6, h * 0.6])
    wh = torch.rand(n, 2, generator=g) * torch.tensor([w * 0.3, h * 0.3]) + 20
    boxes = torch.cat([xy, xy + wh], 1)
    pts = boxes[:, None, :2] + torch.rand(n, k, 2, generator=g) * wh[:, None]
    v = torch.randint(0, 3, (n, k), generator=g).float()
    return boxes.tolist(), torch.cat([pts, v[..., None]], -1)


@pytest.mark.parametrize("k", [17, 4])
def test_coco_keypoint_ap_matches_pycocotools(k):
    g = torch.Generator().manual_seed(5)
    sizes = [(240, 320), (200, 200)]
    sigmas = None if k == 17 else [0.05, 0.08, 0.08, 0.1]
    preds, targets = [], []
    for h, w in sizes:
        boxes, kps = _people(g, 4, h, w, k)
        t = _gt(boxes, [1] * 4)
        targets.append(Detections(t.boxes, t.labels, keypoints=kps))
        noisy = kps.clone()
        noisy[..., :2] += (
            torch.randn(4, k, 2, generator=g) * torch.tensor([2.0, 6.0, 12.0, 3.0])[:, None, None]
        )
        noisy[..., 2] = torch.rand(4, k, generator=g)
        extra_boxes, extra = _people(g, 1, h, w, k)
        scores = torch.rand(5, generator=g).tolist()
        p = _pred(boxes + extra_boxes, [1] * 5, scores)
        preds.append(Detections(p.boxes, p.labels, p.scores,
                                keypoints=torch.cat([noisy, extra])))  # fmt: skip
    ours = coco_evaluate(preds, targets, sizes, CLASSES, iou_type="keypoints", sigmas=sigmas)
    gt = to_coco_ground_truth(targets, sizes, CLASSES, iou_type="keypoints")
    # COCO's keypoint results format has no "bbox": loadRes then takes each detection's area
    # from its keypoints' extent, as coco_evaluate does.
    res = [
        {k: v for k, v in r.items() if k != "bbox"}
        for r in to_coco_results(preds, range(len(preds)))
    ]
    pytest.importorskip("pycocotools", reason="pycocotools is the reference COCO evaluator")
    from pycocotools.coco import COCO as RefCOCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = RefCOCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        ref = COCOeval(coco_gt, coco_gt.loadRes(copy.deepcopy(res)), "keypoints")
        if sigmas is not None:
            ref.params.kpt_oks_sigmas = np.array(sigmas)
        ref.evaluate()
        ref.accumulate()
        ref.summarize()
    names = ["AP", "AP50", "AP75", "AP_medium", "AP_large", "AR20", "AR_medium", "AR_large"]
    stats = [ref.stats[i] for i in (0, 1, 2, 3, 4, 5, 8, 9)]
    np.testing.assert_allclose([ours[n] for n in names], [_nan_for_missing(s) for s in stats],
                               rtol=0, atol=1e-12)  # fmt: skip
    assert 0.05 < ours["AP"] < 1.0


def test_keypoint_evaluation_needs_sigmas_for_other_skeletons():
    t = Detections(
        torch.tensor([[0.0, 0, 10, 10]]), torch.tensor([1]), keypoints=torch.ones(1, 4, 3)
    )
    p = Detections(t.boxes, t.labels, torch.ones(1), keypoints=torch.ones(1, 4, 3))
    with pytest.raises(ValueError, match="sigmas"):
        coco_evaluate([p], [t], [(20, 20)], CLASSES, iou_type="keypoints")
    perfect = coco_evaluate([p], [t], [(20, 20)], CLASSES, iou_type="keypoints", sigmas=[0.1] * 4)
    assert perfect["AP"] == 1.0 or math.isnan(perfect["AP"])  # a 100 px^2 person is "small"
