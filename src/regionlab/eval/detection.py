"""Detection metrics: COCO AP/AR (boxes, masks or keypoints) through faster-coco-eval (Pascal
VOC AP: :mod:`regionlab.eval.voc`).

Inputs are per-image :class:`~regionlab.ops.detections.Detections`: ``boxes`` ``float (N, 4)``
``xyxy`` in absolute pixels, ``labels`` ``int64 (N,)`` indexing ``classes`` (``classes[0]`` is
the background, so objects have labels ``1 .. len(classes) - 1``), ``scores`` ``(N,)`` on
predictions, ``masks`` ``(N, H, W)`` for ``segm``, ``keypoints`` ``(N, K, 3)`` for
``keypoints`` (targets: ``x, y`` and COCO's visibility flag ``v``; predictions: ``x, y`` and a
score), and ``iscrowd`` ``bool (N,)`` on targets (COCO crowds, VOC "difficult").

An undefined AP (a class, or an area range, with no ground truth; COCO's ``-1``) is reported as
``nan`` so that it cannot be averaged in by mistake.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import torch
from faster_coco_eval import COCO, COCOeval_faster
from torch import Tensor

from regionlab.data.rle import mask_to_rle
from regionlab.ops.detections import Detections

__all__ = ["check_labels", "coco_evaluate", "to_coco_ground_truth", "to_coco_results"]

IouType = Literal["bbox", "segm", "keypoints"]

# COCO's per-keypoint OKS constants (person: nose, eyes, ears, shoulders, elbows, wrists, hips,
# knees, ankles), the default for 17 keypoints.
COCO_PERSON_SIGMAS = [0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062,
                      0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089]  # fmt: skip

# --------------------------------------------------------------------------- COCO


def _quiet(*args: object, **kwargs: object) -> None:
    """faster-coco-eval reports progress and the summary table through a print function (a
    logger by default, so it shows up once logging is configured); we return the numbers."""


def _xywh(boxes: Tensor) -> list[list[float]]:
    b = boxes.detach().cpu().double()
    return torch.cat([b[:, :2], b[:, 2:] - b[:, :2]], dim=1).tolist()


def _cat_ids(labels: Tensor, label_to_cat_id: Mapping[int, int] | None) -> list[int]:
    ids = labels.tolist()
    return ids if label_to_cat_id is None else [label_to_cat_id[i] for i in ids]


def _binary(masks: Tensor) -> Tensor:
    """``(N, H, W)`` bool masks; float probabilities are thresholded at 0.5."""
    return masks if masks.dtype == torch.bool else masks >= 0.5


def check_labels(dets: Sequence[Detections], num_classes: int, what: str) -> None:
    for i, d in enumerate(dets):
        if len(d) and (d.labels.min() < 1 or d.labels.max() >= num_classes):
            raise ValueError(
                f"{what}[{i}] has labels outside 1..{num_classes - 1} (classes[0] is background)"
            )


def _check_masks(
    dets: Sequence[Detections], image_sizes: Sequence[tuple[int, int]], what: str
) -> None:
    """``segm`` needs ``masks`` ``(N, H, W)`` at the size of their image: masks at another
    resolution would not raise in COCOeval, only score 0."""
    for i, (d, (h, w)) in enumerate(zip(dets, image_sizes)):
        if d.masks is None:
            raise ValueError(f"segm evaluation: {what}[{i}] has no masks")
        if len(d) and tuple(d.masks.shape[1:]) != (h, w):
            raise ValueError(
                f"{what}[{i}].masks are {tuple(d.masks.shape[1:])} (H, W), the image is {(h, w)}"
            )


def to_coco_results(
    predictions: Sequence[Detections],
    image_ids: Sequence[int],
    label_to_cat_id: Mapping[int, int] | None = None,
    *,
    masks: bool = True,
    keypoints: bool = True,
    rank_masks: bool = False,
) -> list[dict]:
    """COCO results-JSON entries ``{image_id, category_id, bbox: [x, y, w, h], score}``.

    ``category_id`` is ``label_to_cat_id[label]`` (the label itself when ``None``). With
    ``masks`` and a prediction that has ``masks`` ``(N, H, W)``, each entry also gets
    ``"segmentation"``: the compressed RLE (``counts`` a ``str``) of the mask thresholded at 0.5,
    and where the prediction has ``mask_scores``, ``"mask_score"``: the score its mask ranks by
    (COCO's own tools read ``"score"``: a file for them takes ``rank_masks``); with
    ``keypoints`` and predicted ``keypoints`` ``(N, K, 3)``, ``"keypoints"``: the flat
    ``[x1, y1, s1, ...]`` list. ``rank_masks``: ``"score"`` is the mask's score where a
    prediction has ``mask_scores`` (a ``segm`` evaluation), else always the box's.
    """
    if len(predictions) != len(image_ids):
        raise ValueError(f"{len(predictions)} predictions but {len(image_ids)} image ids")
    out = []
    for dets, image_id in zip(predictions, image_ids):
        if dets.scores is None:
            raise ValueError(f"predictions for image {image_id} have no scores")
        rles = None
        if masks and dets.masks is not None:
            rles = [mask_to_rle(m) for m in _binary(dets.masks)]
        cats = _cat_ids(dets.labels, label_to_cat_id)
        kps = None
        if keypoints and dets.keypoints is not None:
            kps = dets.keypoints.detach().cpu().double().flatten(1).tolist()
        ranked = None  # each mask's own score, where its head ranks masks apart
        if rles is not None and dets.mask_scores is not None:
            ranked = dets.mask_scores.tolist()
        for j, (box, score) in enumerate(zip(_xywh(dets.boxes), dets.scores.tolist())):
            entry = {"image_id": image_id, "category_id": cats[j], "bbox": box, "score": score}
            if rles is not None:
                entry["segmentation"] = rles[j]
            if ranked is not None:
                entry["mask_score"] = ranked[j]
                if rank_masks:
                    entry["score"] = ranked[j]
            if kps is not None:
                entry["keypoints"] = kps[j]
            out.append(entry)
    return out


def to_coco_ground_truth(
    targets: Sequence[Detections],
    image_sizes: Sequence[tuple[int, int]],
    classes: Sequence[str],
    *,
    iou_type: IouType = "bbox",
    label_to_cat_id: Mapping[int, int] | None = None,
) -> dict:
    """An in-memory COCO instances dict; image ``i`` gets id ``i``, sized ``image_sizes[i]``
    ``= (H, W)``.

    ``area``, which COCO's small/medium/large split and OKS's scale read, is
    ``targets[i].area`` where given (a COCO file's own ``area``, as pycocotools reads it from
    the file, for every ``iou_type``), else the mask's pixels where the annotation has one
    (``segm`` needs ``targets[i].masks`` ``bool (N, H, W)``; ``keypoints`` uses them when
    present), else the box's ``w * h``. ``keypoints`` needs ``(N, K, 3)`` on the targets; an
    object without labelled keypoints is ignored, as COCO does.
    ``iscrowd`` comes from ``targets[i].iscrowd``, so crowds are ignored exactly as COCO does.
    """
    if len(targets) != len(image_sizes):
        raise ValueError(f"{len(targets)} targets but {len(image_sizes)} image sizes")
    if iou_type == "segm":
        _check_masks(targets, image_sizes, "targets")
    if iou_type == "keypoints":
        _check_keypoints(targets, "targets")
    labels = range(1, len(classes))
    cats = _cat_ids(torch.tensor(list(labels)), label_to_cat_id)
    images, anns = [], []
    for image_id, (dets, (h, w)) in enumerate(zip(targets, image_sizes)):
        images.append({"id": image_id, "height": int(h), "width": int(w)})
        crowd = dets.iscrowd.tolist() if dets.iscrowd is not None else [False] * len(dets)
        boxes = _xywh(dets.boxes)
        area = dets.area.tolist() if dets.area is not None else None
        for j, cat in enumerate(_cat_ids(dets.labels, label_to_cat_id)):
            ann = {
                "id": len(anns) + 1,  # faster-coco-eval uses id 0 as its "unmatched" marker
                "image_id": image_id,
                "category_id": cat,
                "bbox": boxes[j],
                "area": float(area[j]) if area is not None else boxes[j][2] * boxes[j][3],
                "iscrowd": int(crowd[j]),
            }
            if iou_type == "segm" or (iou_type == "keypoints" and dets.masks is not None):
                mask = _binary(dets.masks[j])
                ann["segmentation"] = mask_to_rle(mask)
                if area is None:  # (a stated area, the mask's pixels as a rule, wins)
                    ann["area"] = float(mask.sum())
            if iou_type == "keypoints":
                kp = dets.keypoints[j].detach().cpu().double()
                ann["keypoints"] = kp.flatten().tolist()
                ann["num_keypoints"] = int((kp[:, 2] > 0).sum())
            anns.append(ann)
    categories = [{"id": c, "name": classes[k]} for k, c in zip(labels, cats)]
    return {"images": images, "annotations": anns, "categories": categories}


def _check_keypoints(dets: Sequence[Detections], what: str) -> int:
    """Every image has ``keypoints`` ``(N, K, 3)`` with one ``K``; returns ``K``."""
    ks = set()
    for i, d in enumerate(dets):
        if d.keypoints is None and len(d) == 0:
            continue  # nothing in this image (a reader may give no keypoint tensor at all)
        if d.keypoints is None or d.keypoints.dim() != 3 or d.keypoints.shape[-1] != 3:
            raise ValueError(f"keypoints evaluation: {what}[{i}] has no (N, K, 3) keypoints")
        ks.add(int(d.keypoints.shape[1]))
    if len(ks) > 1:
        raise ValueError(f"keypoints evaluation: {what} have different K: {sorted(ks)}")
    return ks.pop() if ks else 0


def _max_dets(max_dets: int) -> list[int]:
    """COCO's ``[1, 10, 100]`` with ``max_dets`` as the last (the one AP uses)."""
    if max_dets < 1:
        raise ValueError(f"max_dets must be >= 1, got {max_dets}")
    return sorted({m for m in (1, 10) if m < max_dets} | {max_dets})


def _mean(s: np.ndarray) -> float:
    valid = s[s > -1]
    return float(np.mean(valid)) if valid.size else float("nan")


def _summary(ev: COCOeval_faster, names: Mapping[int, str]) -> dict[str, float]:
    """The 12 COCO stats, named, and per-class AP, from the accumulated arrays."""
    p = ev.params
    prec = ev.eval["precision"]  # (iou thresholds, recall thresholds, classes, areas, max dets)
    rec = ev.eval["recall"]  # (iou thresholds, classes, areas, max dets)
    t50, t75 = (int(np.flatnonzero(np.isclose(p.iouThrs, t))[0]) for t in (0.5, 0.75))
    out = {
        "AP": _mean(prec[..., 0, -1]),
        "AP50": _mean(prec[t50, :, :, 0, -1]),
        "AP75": _mean(prec[t75, :, :, 0, -1]),
    }
    areas = {name: a for a, name in enumerate(p.areaRngLbl) if name != "all"}
    out |= {f"AP_{name}": _mean(prec[:, :, :, a, -1]) for name, a in areas.items()}
    out |= {f"AR{m}": _mean(rec[:, :, 0, i]) for i, m in enumerate(p.maxDets)}
    out |= {f"AR_{name}": _mean(rec[:, :, a, -1]) for name, a in areas.items()}
    out |= {f"AP/{names[c]}": _mean(prec[:, :, k, 0, -1]) for k, c in enumerate(p.catIds)}
    return out


def coco_evaluate(
    predictions: Sequence[Detections],
    targets: Sequence[Detections],
    image_sizes: Sequence[tuple[int, int]],
    classes: Sequence[str],
    *,
    iou_type: IouType = "bbox",
    max_dets: int | None = None,
    label_to_cat_id: Mapping[int, int] | None = None,
    sigmas: Sequence[float] | None = None,
    arrays: bool = False,
) -> dict[str, float] | COCOeval_faster:
    """COCO evaluation of ``predictions[i]`` against ``targets[i]`` on image ``i`` (``(H, W)``
    ``image_sizes[i]``), through faster-coco-eval.

    ``iou_type="segm"`` matches masks: predicted ``masks`` ``(N, H, W)`` (float probabilities
    or bool) are thresholded at 0.5; targets need ``bool`` masks. A prediction's masks rank by
    its ``mask_scores`` where it has them, else by ``scores``.

    ``iou_type="keypoints"`` matches keypoints by object keypoint similarity (OKS) with the
    per-keypoint ``sigmas`` (default: COCO's for its 17 person keypoints; other ``K`` must give
    them); COCO's keypoint protocol otherwise (medium and large areas only, ``max_dets`` 20).

    ``max_dets`` is COCO's ``maxDets`` (default 100, keypoints 20): like COCO, it keeps the top
    ``max_dets`` by score *per image and class* (a per-image cap over all classes is the
    model's job, e.g. its ``detections_per_img``).

    Returns floats: ``AP`` (IoU 0.50:0.95), ``AP50``, ``AP75``, ``AP_small``, ``AP_medium``,
    ``AP_large``, ``AR1``, ``AR10``, ``AR<max_dets>`` (``AR100`` by default), ``AR_small``,
    ``AR_medium``, ``AR_large`` and ``AP/<class name>`` for every class ``1 ..``; ``nan`` where
    there is no ground truth to score. No predictions at all give AP 0. With ``arrays``, the
    accumulated ``COCOeval_faster`` itself instead (``.eval["precision"]`` ``(T, R, K, A, M)``).
    """
    if iou_type not in ("bbox", "segm", "keypoints"):
        raise ValueError(f"iou_type must be 'bbox', 'segm' or 'keypoints', got {iou_type!r}")
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions but {len(targets)} targets")
    check_labels(predictions, len(classes), "predictions")
    check_labels(targets, len(classes), "targets")
    if iou_type == "segm":
        _check_masks(predictions, image_sizes, "predictions")
    if iou_type == "keypoints":
        k = _check_keypoints(targets, "targets")
        if _check_keypoints(predictions, "predictions") not in (0, k):
            raise ValueError(f"keypoints evaluation: predictions and targets differ in K ({k})")
        if sigmas is None and k != len(COCO_PERSON_SIGMAS):
            raise ValueError(f"keypoints evaluation of {k} keypoints needs their OKS sigmas")
        sigmas = COCO_PERSON_SIGMAS if sigmas is None else list(sigmas)
        if len(sigmas) != k:
            raise ValueError(f"{len(sigmas)} OKS sigmas for {k} keypoints")
    gt_dict = to_coco_ground_truth(
        targets, image_sizes, classes, iou_type=iou_type, label_to_cat_id=label_to_cat_id
    )
    results = to_coco_results(
        predictions,
        range(len(targets)),
        label_to_cat_id,
        masks=iou_type == "segm",
        keypoints=iou_type == "keypoints",
        rank_masks=True,  # masks by their own scores where a mask head gives them
    )
    if iou_type in ("segm", "keypoints"):
        # With a "bbox" in the results, COCO's loadRes takes the box area as each detection's
        # area, and the small/medium/large split would then use boxes for masks (for
        # keypoints, their extent, as in COCO's own keypoint results).
        for r in results:
            del r["bbox"]
    gt = COCO(gt_dict, print_function=_quiet)
    ev = COCOeval_faster(gt, gt.loadRes(results), iou_type, print_function=_quiet)
    if iou_type == "keypoints":
        ev.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
        ev.params.maxDets = [20 if max_dets is None else max_dets]
    else:
        ev.params.maxDets = _max_dets(100 if max_dets is None else max_dets)
    ev.evaluate()
    ev.accumulate()
    if arrays:  # the report's PR curves read COCO's own accumulated arrays
        return ev
    return _summary(ev, {c["id"]: c["name"] for c in gt_dict["categories"]})


# --------------------------------------------------------------------------- Pascal VOC
