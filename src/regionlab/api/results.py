"""Typed predictions of :class:`~regionlab.api.Predictor`: one result per image, every position
in that image's own pixels.

- :class:`DetectionResult` (``detect``, ``instance``, ``localize``): boxes, labels, scores, and
  masks / keypoints where the model predicts them; ``to_coco`` / ``to_yolo``.
- :class:`SegmentationResult` (``segment``): a class map; ``to_png`` (the class indices).
- :class:`KeypointResult` (``keypoints``): one object's keypoints.
- :class:`CaptionResult` (``caption``) and :class:`AlignmentResult` (``align``).

Each keeps its image (``uint8 (3, H, W)``, not shown in ``repr``) so ``plot()`` can draw it,
and says where it came from (``path``: the file, with ``frame``: 12 for frame 12 of a video).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from PIL import Image

from regionlab.api.drawing import draw_alignment, draw_caption, draw_instances


@dataclass
class Result:
    """What every result has: the class names of its model, its source and its image."""

    names: list[str]  # the model's classes, indexed by label
    path: str | None  # the file (or video frame) predicted; None for an in-memory image
    image: torch.Tensor | None = field(repr=False)  # uint8 (3, H, W), for plot()
    frame: int | None = None  # the frame number, when ``path`` is a video

    @property
    def image_size(self) -> tuple[int, int]:
        """``(H, W)`` of the image predicted."""
        return tuple(self.image.shape[-2:]) if self.image is not None else (0, 0)

    def plot(self) -> Image.Image:
        raise NotImplementedError

    def records(self, image_id) -> list[dict] | None:
        """JSON entries of this prediction (``predict`` writes them to ``predictions.json``);
        ``None`` where the prediction is a picture (a class map)."""
        return None


@dataclass
class DetectionResult(Result):
    """``N`` objects: ``boxes`` ``float (N, 4)`` ``xyxy`` pixels, ``labels`` ``int64 (N,)``
    indexing :attr:`names` (0 is background, so objects have labels >= 1), ``scores``
    ``float (N,)``; ``masks`` ``bool (N, H, W)`` and ``keypoints`` ``float (N, K, 3)``
    ``(x, y, score)`` where the model predicts them; ``mask_scores`` ``float (N,)`` where its
    mask head ranks masks apart from boxes (``--mask-score maskness``). Sorted by score, best
    first."""

    boxes: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 4))
    labels: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.int64))
    scores: torch.Tensor = field(default_factory=lambda: torch.zeros(0))
    masks: torch.Tensor | None = None
    keypoints: torch.Tensor | None = None
    skeleton: list[list[int]] = field(default_factory=list, repr=False)
    mask_scores: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def class_names(self) -> list[str]:
        """The class name of each object."""
        return [self.names[i] for i in self.labels.tolist()]

    def plot(self) -> Image.Image:
        return draw_instances(self.image, self.boxes, self.labels.tolist(), self.scores.tolist(),
                              self.names, self.masks, self.keypoints, self.skeleton)  # fmt: skip

    def to_coco(self, image_id, label_to_cat_id: dict[int, int] | None = None) -> list[dict]:
        """COCO results entries ``{image_id, category_id, bbox: [x, y, w, h], score}`` (with an
        RLE ``segmentation``, its ``mask_score`` and flat ``keypoints`` where predicted);
        ``category_id`` is the label (1..C) unless ``label_to_cat_id`` maps it."""
        from regionlab.eval.detection import to_coco_results

        return to_coco_results([self.detections()], [image_id], label_to_cat_id)

    def detections(self):
        """The objects as :class:`~regionlab.ops.detections.Detections` (every field kept)."""
        from regionlab.ops.detections import Detections

        return Detections(self.boxes, self.labels, self.scores, self.masks, self.keypoints,
                          mask_scores=self.mask_scores)  # fmt: skip

    def to_yolo(self) -> list[str]:
        """YOLO text lines ``class cx cy w h score`` (class = label - 1, the box normalised by
        the image size), as ``predict --save-txt`` writes them."""
        h, w = self.image_size
        out = []
        for (x0, y0, x1, y1), lab, s in zip(self.boxes.tolist(), self.labels.tolist(),
                                            self.scores.tolist()):  # fmt: skip
            cx, cy, bw, bh = (x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h
            out.append(f"{lab - 1} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f} {s:.6f}")
        return out

    def records(self, image_id) -> list[dict]:
        return self.to_coco(image_id)


@dataclass
class SegmentationResult(Result):
    """``class_map`` ``int64 (H, W)``: a class index into :attr:`names` for every pixel."""

    class_map: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 0, dtype=torch.int64))
    background: bool = True  # class 0 is background (not painted)

    def plot(self) -> Image.Image:
        from regionlab.viz.draw import overlay_panels

        return overlay_panels(self.image, [("prediction", self.class_map)], self.names,
                              self.background)  # fmt: skip

    def to_png(self) -> Image.Image:
        """The class map as an 8-bit PNG image: each pixel's value is its class index (the
        format of VOC's and CamVid's label PNGs, readable by ``masks:`` data specs)."""
        if len(self.names) > 256:
            raise ValueError(f"{len(self.names)} classes do not fit an 8-bit class-map PNG")
        return Image.fromarray(self.class_map.to(torch.uint8).cpu().numpy())


@dataclass
class KeypointResult(Result):
    """One object's keypoints: ``keypoints`` ``float (K, 2)`` ``(x, y)`` pixels and
    ``visible`` ``float (K,)`` probabilities."""

    keypoints: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 2))
    visible: torch.Tensor = field(default_factory=lambda: torch.zeros(0))
    skeleton: list[list[int]] = field(default_factory=list, repr=False)

    def plot(self) -> Image.Image:
        from regionlab.viz.draw import draw_skeleton

        return draw_skeleton(self.image, self.keypoints, self.skeleton, self.visible)

    def records(self, image_id) -> list[dict]:
        """One COCO-style entry: ``keypoints`` flat ``[x1, y1, v1, ...]`` (``v`` the
        visibility probability)."""
        kps = torch.cat([self.keypoints, self.visible[:, None]], 1).flatten().tolist()
        return [{"image_id": image_id, "keypoints": kps}]


@dataclass
class CaptionResult(Result):
    caption: str = ""

    def plot(self) -> Image.Image:
        return draw_caption(self.image, self.caption)

    def records(self, image_id) -> list[dict]:
        return [{"image_id": image_id, "caption": self.caption}]


@dataclass
class AlignmentResult(Result):
    """The regions of an image (``boxes`` ``float (R, 4)`` ``xyxy`` pixels; region 0 is the
    whole image) and, with a sentence, each word's best region ``(word, region, dot)`` and
    the image-sentence score."""

    boxes: torch.Tensor = field(default_factory=lambda: torch.zeros(0, 4))
    text: str | None = None
    words: list[tuple[str, int, float]] = field(default_factory=list)
    score: float | None = None

    def plot(self) -> Image.Image:
        if not self.text:
            raise ValueError("an alignment result draws a sentence: predict with text=...")
        return draw_alignment(self.image, self.boxes, self.words, self.score)

    def records(self, image_id) -> list[dict]:
        out = {"image_id": image_id, "boxes": self.boxes.tolist()}
        if self.text:
            out.update(score=self.score, words=[{"word": w, "region": b, "dot": s}
                                                for w, b, s in self.words])  # fmt: skip
        return [out]
