"""COCO JSON reader: instances (boxes, polygon/RLE masks, crowd), keypoints and captions (with
an instances file, or a captions file alone)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faster_coco_eval.core.mask as mask_api
import numpy as np
import torch

from regionlab.data.checks import as_written, check_box, load_json, numbers
from regionlab.data.errors import DataError, SkipReport
from regionlab.data.io import image_size, load_image, resolve_inside
from regionlab.data.sample import IGNORE_INDEX, Dataset, Sample

# --------------------------------------------------------------------------- COCO


@dataclass
class _Ann:
    """One validated annotation; ``box`` is ``xyxy`` pixels, ``segm`` as in the JSON (or None)."""

    ann_id: Any
    box: list[float]
    label: int
    iscrowd: bool
    segm: Any
    keypoints: np.ndarray | None  # (K, 3) float32


@dataclass
class _Image:
    image_id: int
    path: Path
    height: int
    width: int
    anns: list[_Ann]


class CocoDataset(Dataset):
    """COCO ``instances_*.json`` (or ``person_keypoints_*.json``) with images in ``images_dir``.

    Each item is a :class:`Sample` with:

    - ``boxes`` ``float32 (N, 4)`` ``xyxy`` pixels (from COCO's ``xywh``), clipped to the image;
    - ``labels`` ``int64 (N,)``: category ids mapped to ``1..C`` in sorted-id order,
      ``classes = ["background", *names]``; ``label_to_cat_id`` maps back;
    - ``masks`` ``bool (N, H, W)`` from polygons / uncompressed RLE / compressed RLE, and
      ``semantic`` ``int64 (H, W)``: the label of the instance covering each pixel (later
      instances drawn over earlier ones), crowd regions set to ``IGNORE_INDEX``. Both are ``None``
      when some annotation of the file has no segmentation (a box-only file);
    - ``iscrowd`` ``bool (N,)`` from the JSON;
    - ``keypoints`` ``float32 (N, K, 3)`` when a category lists keypoint names (``K`` =
      ``num_keypoints``) and ``keypoints=True``; annotations without keypoints get zeros;
    - ``captions`` from ``captions_file``, joined by image id. A ``captions_*.json`` given as
      ``ann_file`` on its own (no ``categories``; ``captions_only``) is a caption set: every
      image with its captions, no objects (``classes == ["background"]``, no masks).

    Everything is validated here (image headers read, no pixels decoded); pixels and masks are
    decoded in ``__getitem__``. With ``skip_bad=True`` an image with any bad annotation is left
    out and each problem (including annotations or captions naming an unknown image id) is
    recorded in ``self.skipped``. Structural faults (malformed JSON, duplicate image or category
    ids) always raise. ``coco_json``: the parsed file; ``image_ids``: the images kept, in order.
    """

    image_files = ("_images", "path")

    def __init__(
        self,
        ann_file: str | Path,
        images_dir: str | Path,
        *,
        captions_file: str | Path | None = None,
        keypoints: bool = True,
        skip_bad: bool = False,
        allow_outside_root: bool = False,
    ) -> None:
        self.source = str(ann_file)
        self.images_dir = Path(images_dir)
        self.skip_bad = skip_bad
        self.allow_outside_root = allow_outside_root
        self.skipped = SkipReport()

        data = load_json(ann_file)
        self.coco_json: dict = data
        self.captions_only = _captions_only(data)
        if self.captions_only:  # a captions_*.json alone: its annotations are captions, not objects
            data = {**data, "annotations": [], "categories": []}
        images, anns, cats = self._top_level(data)
        self._categories(cats, keypoints)

        by_id: dict[int, dict] = {}
        for i, img in enumerate(images):
            where = f"images[{i}]"
            if not isinstance(img, dict) or not _is_int(img.get("id")):
                raise DataError(self.source, "image entry needs an integer 'id'", where)
            if img["id"] in by_id:
                raise DataError(self.source, f"duplicate image id {img['id']}", where)
            by_id[img["id"]] = img

        anns_by_image: dict[int, list[dict]] = {k: [] for k in by_id}
        for i, ann in enumerate(anns):
            if not isinstance(ann, dict):
                raise DataError(
                    self.source, "annotation entry must be an object", f"annotations[{i}]"
                )
            where = f"annotation id {ann.get('id', f'#{i}')}"
            image_id = ann.get("image_id")
            if not _is_int(image_id) or image_id not in by_id:
                self._bad(DataError(self.source, f"names unknown image id {image_id!r}", where))
                continue
            anns_by_image[image_id].append(ann)

        self._images: list[_Image] = []
        for image_id, img in by_id.items():
            try:
                self._images.append(self._check_image(img, anns_by_image[image_id]))
            except DataError as err:
                self._bad(err)
        self.image_ids: list[int] = [r.image_id for r in self._images]
        self.has_masks = not self.captions_only and all(
            a.segm is not None for r in self._images for a in r.anns
        )
        self._captions: dict[int, list[str]] = {}
        if self.captions_only:
            self._read_captions(Path(ann_file), set(by_id), self.coco_json)
        if captions_file is not None:
            self._read_captions(Path(captions_file), set(by_id))

        if self.skipped.count:
            warnings.warn(self.skipped.summary(), stacklevel=2)

    # ------------------------------------------------------------------ construction

    def _bad(self, err: DataError) -> None:
        if not self.skip_bad:
            raise err
        self.skipped.add(err)

    def _top_level(self, data: Any) -> tuple[list, list, list]:
        if not isinstance(data, dict):
            raise DataError(self.source, "top level must be a JSON object")
        parts = []
        for key in ("images", "annotations", "categories"):
            value = data.get(key)
            if not isinstance(value, list):
                raise DataError(self.source, f"missing or non-list {key!r}")
            parts.append(value)
        return parts[0], parts[1], parts[2]

    def _categories(self, cats: list, keypoints: bool) -> None:
        seen: dict[int, dict] = {}
        for i, cat in enumerate(cats):
            ok = (
                isinstance(cat, dict)
                and _is_int(cat.get("id"))
                and isinstance(cat.get("name"), str)
            )
            if not ok:
                raise DataError(
                    self.source, "category needs an integer 'id' and a 'name'", f"categories[{i}]"
                )
            if cat["id"] in seen:
                raise DataError(
                    self.source, f"duplicate category id {cat['id']}", f"categories[{i}]"
                )
            seen[cat["id"]] = cat
        order = sorted(seen)
        self.classes = ["background", *(seen[c]["name"] for c in order)]
        self.cat_id_to_label = {c: i + 1 for i, c in enumerate(order)}
        self.label_to_cat_id = {i + 1: c for i, c in enumerate(order)}
        # K is the longest keypoint list: COCO has one keypoint category ("person").
        names = [seen[c].get("keypoints") or [] for c in order]
        self.num_keypoints = max((len(n) for n in names), default=0) if keypoints else 0
        k = max(range(len(names)), key=lambda i: len(names[i]), default=None)
        self.keypoint_names = list(names[k]) if self.num_keypoints else []
        # COCO's skeleton is 1-based; ours index keypoint_names.
        self.skeleton = (
            [[a - 1, b - 1] for a, b in seen[order[k]].get("skeleton") or []]
            if self.num_keypoints
            else []
        )

    def _check_image(self, img: dict, anns: list[dict]) -> _Image:
        image_id = img["id"]
        where = f"image id {image_id}"
        name = img.get("file_name")
        if not isinstance(name, str) or not name:
            raise DataError(self.source, "image entry has no 'file_name'", where)
        path = resolve_inside(
            self.images_dir,
            name,
            source=self.source,
            where=where,
            allow_outside=self.allow_outside_root,
        )
        h, w = image_size(path, source=self.source, where=where)
        if (img.get("height"), img.get("width")) not in ((None, None), (h, w)):
            raise DataError(
                self.source,
                f"image {name} is {w}x{h} but the file says {img.get('width')}x{img.get('height')}",
                where,
            )
        checked = [self._check_ann(a, h, w, image_id) for a in anns]
        return _Image(image_id, path, h, w, checked)

    def _check_ann(self, ann: dict, h: int, w: int, image_id: int) -> _Ann:
        ann_id = ann.get("id")
        where = f"annotation id {ann_id}, image id {image_id}"
        cat = ann.get("category_id")
        if not _is_int(cat) or cat not in self.cat_id_to_label:
            raise DataError(self.source, f"unknown category id {cat!r}", where)
        x, y, bw, bh = numbers(ann.get("bbox"), 4, "bbox", source=self.source, where=where)
        box = check_box(
            [x, y, x + bw, y + bh],
            h,
            w,
            source=self.source,
            where=where,
            written=as_written("bbox", ann["bbox"]) + " (x, y, width, height)",
        )
        iscrowd = ann.get("iscrowd", 0)
        if iscrowd not in (0, 1):  # also accepts True/False
            raise DataError(self.source, f"iscrowd must be 0 or 1, got {iscrowd!r}", where)
        segm = self._check_segm(ann.get("segmentation"), h, w, where)
        kps = None
        if self.num_keypoints:
            kps = np.zeros((self.num_keypoints, 3), dtype=np.float32)
            if ann.get("keypoints") is not None:
                flat = numbers(
                    ann["keypoints"],
                    3 * self.num_keypoints,
                    "keypoints",
                    source=self.source,
                    where=where,
                )
                kps[:] = np.asarray(flat, dtype=np.float32).reshape(-1, 3)
                bad = [int(k) for k in np.nonzero(~np.isin(kps[:, 2], (0, 1, 2)))[0]]
                if bad:
                    raise DataError(
                        self.source,
                        f"keypoint {bad[0]} has visibility {kps[bad[0], 2]:g}; COCO allows "
                        "0 (unlabelled), 1 (occluded), 2 (visible)",
                        where,
                    )
        return _Ann(ann_id, box, self.cat_id_to_label[cat], bool(iscrowd), segm, kps)

    def _check_segm(self, segm: Any, h: int, w: int, where: str) -> Any:
        """Validate a segmentation without decoding it (except compressed RLE, see below)."""
        if segm is None or segm == []:
            return None
        if isinstance(segm, list):
            polys = []
            for j, poly in enumerate(segm):
                pts = numbers(poly, None, f"polygon {j}", source=self.source, where=where)
                if len(pts) % 2 or len(pts) < 6:
                    raise DataError(
                        self.source,
                        f"polygon {j} needs at least 3 (x, y) points, got {len(pts)} values",
                        where,
                    )
                polys.append(pts)
            return polys
        if not isinstance(segm, dict) or "counts" not in segm or "size" not in segm:
            raise DataError(
                self.source, "segmentation must be polygons or an RLE {'counts', 'size'}", where
            )
        if list(segm["size"]) != [h, w]:
            raise DataError(
                self.source,
                f"RLE size {segm['size']} differs from the image size [{h}, {w}] (H, W)",
                where,
            )
        counts = segm["counts"]
        if isinstance(counts, list):
            if not all(_is_int(c) and c >= 0 for c in counts) or sum(counts) != h * w:
                raise DataError(
                    self.source,
                    f"uncompressed RLE counts must be non-negative "
                    f"integers summing to H*W = {h * w}",
                    where,
                )
            return {"size": [h, w], "counts": counts}
        if not isinstance(counts, str):
            raise DataError(self.source, "RLE counts must be a list or a string", where)
        # A compressed string can only be checked by decoding it; RLE decoding is cheap (no image
        # pixels involved), and catching it now keeps skip_bad meaningful.
        _decode_segm({"size": [h, w], "counts": counts}, h, w, source=self.source, where=where)
        return {"size": [h, w], "counts": counts}

    def _read_captions(self, path: Path, image_ids: set[int], data: Any = None) -> None:
        data = load_json(path) if data is None else data
        caps = data.get("annotations") if isinstance(data, dict) else None
        if not isinstance(caps, list):
            raise DataError(path, "missing or non-list 'annotations'")
        for i, cap in enumerate(caps):
            where = f"annotations[{i}]"
            if not isinstance(cap, dict) or not isinstance(cap.get("caption"), str):
                raise DataError(path, "caption entry needs a 'caption' string", where)
            if not _is_int(cap.get("image_id")) or cap["image_id"] not in image_ids:
                self._bad(
                    DataError(
                        path, f"caption names unknown image id {cap.get('image_id')!r}", where
                    )
                )
                continue
            self._captions.setdefault(cap["image_id"], []).append(cap["caption"].strip())

    # ------------------------------------------------------------------ items

    def __len__(self) -> int:
        return len(self._images)

    def __getitem__(self, index: int) -> Sample:
        rec = self._images[index]
        h, w = rec.height, rec.width
        image = load_image(rec.path, source=self.source, where=f"image id {rec.image_id}")
        if tuple(image.shape[1:]) != (h, w):  # header and decoded size disagree: corrupt file
            raise DataError(
                rec.path,
                f"decoded size {tuple(image.shape[1:])} differs from the header size {(h, w)}",
            )
        n = len(rec.anns)
        boxes = torch.tensor([a.box for a in rec.anns], dtype=torch.float32).reshape(n, 4)
        labels = torch.tensor([a.label for a in rec.anns], dtype=torch.int64)
        iscrowd = torch.tensor([a.iscrowd for a in rec.anns], dtype=torch.bool)
        masks = semantic = keypoints = None
        if self.has_masks:
            masks = torch.zeros((n, h, w), dtype=torch.bool)
            for i, a in enumerate(rec.anns):
                where = f"annotation id {a.ann_id}, image id {rec.image_id}"
                masks[i] = torch.from_numpy(
                    _decode_segm(a.segm, h, w, source=self.source, where=where)
                )
            semantic = _semantic(masks, labels, iscrowd)
        if self.num_keypoints:
            kps = [a.keypoints for a in rec.anns]
            keypoints = (
                torch.from_numpy(np.stack(kps))
                if kps
                else torch.zeros((0, self.num_keypoints, 3), dtype=torch.float32)
            )
        return Sample(
            image=image,
            semantic=semantic,
            masks=masks,
            boxes=boxes,
            labels=labels,
            keypoints=keypoints,
            iscrowd=iscrowd,
            captions=list(self._captions.get(rec.image_id, [])),
            image_id=rec.image_id,
            path=str(rec.path),
        )


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _captions_only(data: Any) -> bool:
    """A COCO ``captions_*.json`` on its own: no ``categories``, and its annotations captions."""
    anns = data.get("annotations") if isinstance(data, dict) else None
    return (
        isinstance(anns, list)
        and "categories" not in data
        and any(isinstance(a, dict) and "caption" in a for a in anns)
    )


def _decode_segm(segm: Any, h: int, w: int, *, source: str | Path, where: str) -> np.ndarray:
    """Decode validated polygons / RLE to a ``bool (H, W)`` mask."""
    try:
        if isinstance(segm, list):  # polygons: one RLE per part, merged into one mask
            rle = mask_api.merge(mask_api.frPyObjects(segm, h, w))
        elif isinstance(segm["counts"], list):  # uncompressed RLE -> compressed
            rle = mask_api.frPyObjects(segm, h, w)
        else:  # compressed RLE: decode takes it as is
            rle = segm
        m = mask_api.decode(rle)
    except (ValueError, RuntimeError, TypeError) as e:
        raise DataError(source, f"cannot decode segmentation: {e}", where) from e
    return np.ascontiguousarray(m, dtype=bool)


def _semantic(masks: torch.Tensor, labels: torch.Tensor, iscrowd: torch.Tensor) -> torch.Tensor:
    """Per-pixel label, later instances over earlier ones; crowd regions last, as ignore."""
    semantic = torch.zeros(masks.shape[1:], dtype=torch.int64)
    for m, label, crowd in zip(masks, labels, iscrowd, strict=True):
        if not crowd:
            semantic[m] = label
    for m, crowd in zip(masks, iscrowd, strict=True):
        if crowd:
            semantic[m] = IGNORE_INDEX
    return semantic
