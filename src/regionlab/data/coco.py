"""COCO JSON reader: instances (boxes, polygon/RLE masks, crowd), keypoints and captions (with
an instances file, or a captions file alone)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from regionlab.data.checks import as_written, check_box, load_json, numbers
from regionlab.data.coco_keypoints import check_keypoints, check_skeleton, keypoint_names
from regionlab.data.coco_segm import check_segm, decode_segm
from regionlab.data.coco_segm import semantic as semantic_map
from regionlab.data.errors import DataError, SkipReport
from regionlab.data.io import image_size, load_image, resolve_inside
from regionlab.data.sample import Dataset, Sample

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
    area: float | None = None  # the file's own "area" (COCO's size split reads it), if stated


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
    - ``area`` ``float64 (N,)`` from the JSON, what pycocotools sizes objects by (an annotation
      without one: its mask's pixels, else its box's), or ``None`` when none states it;
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

        anns_by_image = self._group(anns, by_id)

        self._images: list[_Image] = []
        for image_id, img in by_id.items():
            try:
                self._images.append(self._check_image(img, anns_by_image[image_id]))
            except DataError as err:
                self._bad(err)
        self.image_ids: list[int] = [r.image_id for r in self._images]
        self.has_masks = not self.captions_only and self._all_have_masks()
        self._captions: dict[int, list[str]] = {}
        spoiled: set[int] = set()
        if self.captions_only:
            spoiled |= self._read_captions(Path(ann_file), set(by_id), self.coco_json)
        if captions_file is not None:
            spoiled |= self._read_captions(Path(captions_file), set(by_id))
        if spoiled:
            self._images = [r for r in self._images if r.image_id not in spoiled]
            self.image_ids = [r.image_id for r in self._images]

        if self.skipped.count:
            warnings.warn(self.skipped.summary(), stacklevel=2)

    # ------------------------------------------------------------------ construction

    def _all_have_masks(self) -> bool:
        """Whether every annotation has a segmentation; a file mixing both says so and names
        the first without (else a task needing masks blames every image in turn)."""
        missing = [(r, a) for r in self._images for a in r.anns if a.segm is None]
        total = sum(len(r.anns) for r in self._images)
        if missing and len(missing) < total:
            r, a = missing[0]
            warnings.warn(
                f"{self.source}: {len(missing)} of {total} annotations have no segmentation (the "
                f"first: annotation id {a.ann_id}, image id {r.image_id}); masks are left out "
                "and every object is read as its box",
                stacklevel=3,
            )
        return not missing

    def _bad(self, err: DataError) -> None:
        if not self.skip_bad:
            raise err
        self.skipped.add(err)

    def _group(self, anns: list, by_id: dict[int, dict]) -> dict[int, list[dict]]:
        """Annotations by image id; one naming an unknown image is bad, a repeated id refused
        (COCO tools index annotations by id, and the later one would hide the earlier)."""
        anns_by_image: dict[int, list[dict]] = {k: [] for k in by_id}
        seen: set[Any] = set()
        for i, ann in enumerate(anns):
            if not isinstance(ann, dict):
                raise DataError(
                    self.source, "annotation entry must be an object", f"annotations[{i}]"
                )
            if "id" in ann and not isinstance(ann["id"], (int, str)):
                raise DataError(
                    self.source,
                    f"annotation id must be a number, got {ann['id']!r}",
                    f"annotations[{i}]",
                )
            if "id" in ann and ann["id"] in seen:
                raise DataError(
                    self.source, f"duplicate annotation id {ann['id']!r}", f"annotations[{i}]"
                )
            seen.add(ann.get("id"))
            where = f"annotation id {ann.get('id', f'#{i}')}"
            image_id = ann.get("image_id")
            if not _is_int(image_id) or image_id not in by_id:
                self._bad(DataError(self.source, f"names unknown image id {image_id!r}", where))
                continue
            anns_by_image[image_id].append(ann)
        return anns_by_image

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
        names = [keypoint_names(seen[c], source=self.source) for c in order]
        self.num_keypoints = max((len(n) for n in names), default=0) if keypoints else 0
        k = max(range(len(names)), key=lambda i: len(names[i]), default=None)
        self.keypoint_names = list(names[k]) if self.num_keypoints else []
        # COCO's skeleton is 1-based; ours index keypoint_names.
        self.skeleton = (
            check_skeleton(
                seen[order[k]].get("skeleton"),
                self.num_keypoints,
                source=self.source,
                where=f"category id {order[k]}",
            )  # fmt: skip
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
                f"image {name} is {w}x{h} but the file says "
                f"{img.get('width')!r}x{img.get('height')!r}",
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
        segm = check_segm(ann.get("segmentation"), h, w, source=self.source, where=where)
        kps = None
        if self.num_keypoints:
            kps = np.zeros((self.num_keypoints, 3), dtype=np.float32)
            if ann.get("keypoints") is not None:
                kps = check_keypoints(ann["keypoints"], self.keypoint_names, h, w,
                                      source=self.source, where=where)  # fmt: skip
        area = ann.get("area")
        if area is not None:
            area = numbers([area], 1, "area", source=self.source, where=where)[0]
            if area < 0:
                raise DataError(self.source, f"area must be >= 0, got {area!r}", where)
        return _Ann(ann_id, box, self.cat_id_to_label[cat], bool(iscrowd), segm, kps, area)

    def _read_captions(self, path: Path, image_ids: set[int], data: Any = None) -> set[int]:
        """Join the captions of ``path`` to their images; returns the ids of images with a bad
        caption (left out under ``skip_bad``, as an image with a bad annotation is)."""
        data = load_json(path) if data is None else data
        caps = data.get("annotations") if isinstance(data, dict) else None
        if not isinstance(caps, list):
            raise DataError(path, "missing or non-list 'annotations'")
        spoiled: set[int] = set()
        for i, cap in enumerate(caps):
            where = f"annotations[{i}]"
            image_id = cap.get("image_id") if isinstance(cap, dict) else None
            if not isinstance(cap, dict):
                problem = f"caption entry must be an object, got {cap!r}"
            elif not _is_int(image_id) or image_id not in image_ids:
                problem = f"caption names unknown image id {image_id!r}"
            elif not isinstance(cap.get("caption"), str):
                problem = f"caption entry needs a 'caption' string, got {cap.get('caption')!r}"
            elif not cap["caption"].strip():
                problem = f"caption is empty ({cap['caption']!r})"
            else:
                self._captions.setdefault(image_id, []).append(cap["caption"].strip())
                continue
            self._bad(DataError(path, problem, where))
            if _is_int(image_id) and image_id in image_ids:
                spoiled.add(image_id)
        return spoiled

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
                    decode_segm(a.segm, h, w, source=self.source, where=where)
                )
            semantic = semantic_map(masks, labels, iscrowd)
        if self.num_keypoints:
            kps = [a.keypoints for a in rec.anns]
            keypoints = (
                torch.from_numpy(np.stack(kps))
                if kps
                else torch.zeros((0, self.num_keypoints, 3), dtype=torch.float32)
            )
        sample = Sample(
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
        stated = [a.area for a in rec.anns]
        if any(a is not None for a in stated):  # where one is missing, what COCO would compute
            own = sample.object_areas()
            sample.area = torch.tensor(
                [own[i].item() if a is None else a for i, a in enumerate(stated)],
                dtype=torch.float64,
            )
        return sample


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
