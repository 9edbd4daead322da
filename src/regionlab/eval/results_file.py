"""Per-image detections written to a JSON file of COCO results entries and read back: how a
comparison's peer hands the report the very predictions our evaluator scored, so its page can
draw and diagnose them as it does ours.

The file::

    {"spec": "<data spec of the images>", "masks": true | false,
     "images": [{"id": 0, "height": H, "width": W}, ...],
     "results": [{"image_id": 0, "category_id": 1, "bbox": [x, y, w, h], "score": 0.9,
                  "segmentation": {"size": [H, W], "counts": "..."}}, ...]}

``image_id`` is the image's index in the spec's order; ``category_id`` the label (1..C, 0 is the
background); boxes are COCO's ``xywh`` in the image's pixels; masks compressed RLE.

Class maps (semantic segmentation) go the same way, as COCO's stuff results: ``"kind":
"class_maps"``, one entry per image and class present, ``{"image_id", "category_id": the class
index (0 included), "segmentation": RLE of its pixels}`` (:func:`write_class_maps`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch

from regionlab.data.rle import rle_to_mask
from regionlab.eval.detection import to_coco_results
from regionlab.ops.detections import Detections

__all__ = ["read_class_maps", "read_results", "write_class_maps", "write_results"]


def write_results(
    path: str | Path,
    predictions: Sequence[Detections],
    sizes: Sequence[tuple[int, int]],
    spec: str,
) -> Path:
    """Write ``predictions`` (one per image of ``spec``, in its order; ``sizes``: ``(H, W)``
    of each) to ``path``, atomically."""
    from regionlab.atomic import write_text_atomic

    if len(predictions) != len(sizes):
        raise ValueError(f"{len(predictions)} predictions but {len(sizes)} image sizes")
    masks = any(p.masks is not None for p in predictions)
    doc = {
        "spec": spec,
        "masks": masks,
        "images": [{"id": i, "height": int(h), "width": int(w)} for i, (h, w) in enumerate(sizes)],
        "results": to_coco_results(predictions, list(range(len(predictions))), keypoints=False),
    }
    path = Path(path)
    write_text_atomic(path, json.dumps(doc) + "\n")
    return path


def write_class_maps(path: str | Path, maps: Sequence[torch.Tensor], spec: str) -> Path:
    """Write ``maps`` (``int (H, W)`` class indices, one per image of ``spec`` in its order)
    to ``path``, atomically."""
    from regionlab.atomic import write_text_atomic
    from regionlab.data.rle import mask_to_rle

    results = []
    for i, m in enumerate(maps):
        for c in torch.unique(m).tolist():
            results.append(
                {"image_id": i, "category_id": int(c), "segmentation": mask_to_rle(m == c)}
            )
    doc = {
        "spec": spec,
        "kind": "class_maps",
        "images": [
            {"id": i, "height": int(m.shape[-2]), "width": int(m.shape[-1])}
            for i, m in enumerate(maps)
        ],  # fmt: skip
        "results": results,
    }
    path = Path(path)
    write_text_atomic(path, json.dumps(doc) + "\n")
    return path


def read_class_maps(path: str | Path) -> tuple[str, list[torch.Tensor]]:
    """``(spec, one int64 (H, W) class map per image)`` of a file :func:`write_class_maps`
    wrote; a malformed file is an error naming it and the entry."""
    path = Path(path)
    doc, sizes = _read(path, "class_maps")
    maps = [torch.zeros(size, dtype=torch.int64) for size in sizes]
    for j, r in enumerate(doc["results"]):
        _check_entry(path, j, r, len(sizes))
        m = rle_to_mask(r["segmentation"])
        if tuple(m.shape) != sizes[r["image_id"]]:
            _fail(path, f"results[{j}]: a {tuple(m.shape)} mask on a {sizes[r['image_id']]} image")
        maps[r["image_id"]][m] = int(r["category_id"])
    return doc["spec"], maps


def _check_entry(path: Path, j: int, r, n: int) -> None:
    if (
        not isinstance(r, dict)
        or not isinstance(r.get("image_id"), int)
        or not 0 <= r["image_id"] < n
    ):
        _fail(path, f"results[{j}]: needs an image_id of 0..{n - 1}")


def _fail(path: Path, what: str):
    raise ValueError(f"{path}: {what}")


def read_results(path: str | Path) -> tuple[str, list[Detections]]:
    """``(spec, one Detections per image)`` of a file :func:`write_results` wrote: boxes
    ``float (N, 4)`` ``xyxy``, labels, scores sorted best first, masks ``bool (N, H, W)``
    (and ``mask_scores``) where the file has them. A malformed file is an error naming it and the entry."""
    path = Path(path)
    doc, sizes = _read(path, "detections")
    per: list[list[dict]] = [[] for _ in sizes]
    for j, r in enumerate(doc["results"]):
        _check_entry(path, j, r, len(sizes))
        if len(r.get("bbox") or []) != 4:
            _fail(path, f"results[{j}]: needs a 4-number bbox")
        per[r["image_id"]].append(r)
    masks = bool(doc.get("masks"))
    return doc["spec"], [_detections(rs, size, masks) for rs, size in zip(per, sizes)]


def _read(path: Path, kind: str | None) -> tuple[dict, list[tuple[int, int]]]:
    """The file's object and each image's ``(H, W)``; ``kind``: the one it must hold."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: unreadable ({e})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list):
        _fail(path, "expected an object with an 'images' list")
    if not isinstance(doc.get("results"), list) or not isinstance(doc.get("spec"), str):
        _fail(path, "expected 'results' (a list) and 'spec' (a data spec)")
    if kind is not None and doc.get("kind", "detections") != kind:
        _fail(path, f"holds {doc.get('kind')}, not {kind}")
    sizes = []
    for i, im in enumerate(doc["images"]):
        if not isinstance(im, dict) or im.get("id") != i:
            _fail(path, f"images[{i}] must be an object with id {i}")
        sizes.append((int(im["height"]), int(im["width"])))
    return doc, sizes


def _detections(entries: list[dict], size: tuple[int, int], masks: bool) -> Detections:
    entries = sorted(entries, key=lambda r: -float(r["score"]))
    xywh = torch.tensor([r["bbox"] for r in entries], dtype=torch.float32).reshape(-1, 4)
    boxes = torch.cat([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], dim=1)
    labels = torch.tensor([int(r["category_id"]) for r in entries], dtype=torch.int64)
    scores = torch.tensor([float(r["score"]) for r in entries], dtype=torch.float32)
    m = None
    if masks:
        m = torch.zeros((0, *size), dtype=torch.bool)
        if entries:
            m = torch.stack([rle_to_mask(r["segmentation"]) for r in entries])
    ranked = None  # masks ranked apart from their boxes (to_coco_results' "mask_score")
    if m is not None and entries and all("mask_score" in r for r in entries):
        ranked = torch.tensor([float(r["mask_score"]) for r in entries], dtype=torch.float32)
    return Detections(boxes, labels, scores, m, mask_scores=ranked)
