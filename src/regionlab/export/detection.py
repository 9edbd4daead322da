"""The detectors' inference, written for tracing: the same parts and arithmetic as the eager
decode (:mod:`regionlab.models.detection`), without a Python branch or ``len()`` that depends
on how many boxes an image has, so one trace serves every image. NMS
(:func:`torchvision.ops.batched_nms`) and RoIAlign are inside the graph.

One image per call, at the fixed letterboxed size ``S x S``: outputs ``boxes (D, 4)`` ``xyxy``
in the letterboxed frame, ``scores (D,)``, ``labels int64 (D,)`` in ``1 .. C`` (``D <=
max_det``, sorted by score), then ``mask_probs (D, m, m)`` (each detection's mask
probabilities in its box, pasted into the image by the runner) with a mask head,
``keypoints (D, K, 3)`` with a keypoint head, and ``mask_scores (D,)`` where the mask head ranks
its masks by maskness. Selective search (R-CNN, Fast R-CNN) runs in
OpenCV, outside any graph: those detectors are refused.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.ops import batched_nms, clip_boxes_to_image, remove_small_boxes

from regionlab.export.meta import ExportError
from regionlab.ops.masks import maskness
from regionlab.ops.postprocess import select_detections
from regionlab.ops.roi import crop_level


def select(boxes: Tensor, scores: Tensor, size: tuple[int, int], score_thresh: float,
           nms_iou: float, max_det: int, pre_nms_topk: int | None = None,
           min_size: float | None = None) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """:func:`regionlab.ops.postprocess.select_detections` (written to trace) as plain tensors:
    ``boxes (D, 4)``, ``scores (D,)``, ``labels (D,)``."""
    d = select_detections(boxes, scores, size, score_thresh, nms_iou, max_det, pre_nms_topk,
                          min_size)  # fmt: skip
    return d.boxes, d.scores, d.labels


def _rows(boxes: Tensor) -> Tensor:
    """``(K, 4)`` boxes of image 0 -> ``(K, 5)`` RoI rows."""
    return torch.cat([torch.zeros_like(boxes[:, :1]), boxes], 1)


def _flat(x: Tensor) -> Tensor:
    """``(R, C, h, w)`` -> ``(R, C h w)`` with the row count left free: ``flatten(1)`` becomes
    a reshape to ``(R, -1)`` that onnxruntime refuses when ``R`` is 0."""
    return x.reshape(-1, int(x.shape[1]) * int(x.shape[2]) * int(x.shape[3]))


def _size(images: Tensor) -> tuple[int, int]:
    return int(images.shape[-2]), int(images.shape[-1])


class GridExport(nn.Module):
    """The single-shot grid detector: backbone, neck, head, then :func:`select`."""

    inputs, outputs, batch_dynamic = ["images"], ["boxes", "scores", "labels"], False

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        m, size = self.model, _size(images)
        feats = m.backbone(m.normalize(images)).features
        feats = m.neck([feats[i] for i in m.levels])
        boxes, scores = m.head.boxes_and_scores(m.head(feats, size))
        return select(boxes[0], scores[0].float(), size, m.score_thresh, m.nms_iou, m.max_det,
                      m.pre_nms_topk)  # fmt: skip


class RegionExport(nn.Module):
    """A region detector with a window proposer or an RPN: proposals, crops, box head,
    :func:`select`, then each region head on the kept boxes."""

    inputs, batch_dynamic = ["images"], False

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        # masks leave the graph as each detection's m x m probabilities: pasting them into the
        # image runs in the runner (eager ``paste_masks``), a measured 2x faster than in ONNX
        names = {"mask": "mask_probs", "keypoint": "keypoints"}
        self.outputs = ["boxes", "scores", "labels"] + [names[k] for k in model.heads]
        if "mask" in model.heads and model.heads["mask"].score == "maskness":
            self.outputs.append("mask_scores")  # the masks' own ranking, as RegionDetector's

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        m, size = self.model, _size(images)
        x = m.normalize(images)
        maps = m.cropper.features(x)
        rois = self._proposals(maps, size, images.device)
        feats = self._crop(x, maps, rois)
        logits, deltas = m.head.cls(feats), m.head.box(feats)
        prob = logits.float().softmax(1)[:, 1:]
        boxes = m.coder.decode(deltas.float(), rois.float()).reshape(-1, m.head.k, 4)
        b, s, lab = select(boxes, prob, size, m.score_thresh, m.nms_iou, m.max_det,
                           min_size=1e-2)  # fmt: skip
        outs = [b, s, lab]
        for name, h in m.heads.items():
            lg = h(self._spatial(maps, b, h.grid)).float()
            if name == "mask":
                outs.append(mask_probabilities(h, lg, lab))
            else:
                outs.append(heatmap_keypoints(lg, b))
        if "mask_scores" in self.outputs:
            outs.append(outs[1] * maskness(outs[3 + list(m.heads).index("mask")]))
        return tuple(outs)

    def _proposals(self, maps, size: tuple[int, int], device) -> Tensor:
        from regionlab.models.detection.proposers import WindowProposer
        from regionlab.models.detection.rpn import RPN

        p = self.model.proposer
        if isinstance(p, WindowProposer):
            return p.windows(size, device)
        if isinstance(p, RPN):
            return rpn_proposals(p, maps, size)
        raise ExportError(f"{type(p).__name__} proposals cannot be exported")

    def _crop(self, x: Tensor, maps, rois: Tensor) -> Tensor:
        c = self.model.cropper
        if not maps:  # an image cropper: each region through its own CNN
            return c._encode(c.crops(x, _rows(rois)))
        return c.fc(_flat(self._spatial(maps, rois, c.out)))

    def _spatial(self, maps, boxes: Tensor, out: int) -> Tensor:
        """:meth:`FeatureCropper.spatial` for a trace: every box read from every level, each
        keeping the read of its own level (no branch on which levels are empty)."""
        c = self.model.cropper
        if c.reduce is not None:
            maps = [c.reduce(m) for m in maps]
        rows = _rows(boxes.to(maps[0].dtype))
        if len(maps) == 1:
            return crop_level(maps[0], rows, out, c.strides[0], c.roi, c.sampling)
        level = c.levels(rows[:, 1:])[:, None, None, None]
        result = None
        for i, (fmap, stride) in enumerate(zip(maps, c.strides)):
            crops = crop_level(fmap, rows, out, stride, c.roi, c.sampling)
            result = crops * (level == i) if result is None else torch.where(level == i, crops,
                                                                             result)  # fmt: skip
        return result


def rpn_proposals(rpn: nn.Module, maps, size: tuple[int, int]) -> Tensor:
    """:meth:`RPN._propose` at test time for one image: per level the best ``test_pre_nms``
    anchors, decoded, clipped, tiny ones dropped, NMS within each level, the best
    ``test_post_nms``."""
    a = rpn.objectness.out_channels
    scores, deltas, anchors, levels = [], [], [], []
    for i, fmap in enumerate(maps):
        h, w = int(fmap.shape[-2]), int(fmap.shape[-1])
        t = rpn.conv(fmap)
        lg = rpn.objectness(t).permute(0, 2, 3, 1).reshape(-1).float()
        d = rpn.deltas(t).view(1, a, 4, h, w).permute(0, 3, 4, 1, 2).reshape(-1, 4).float()
        anc = rpn._level_anchors(i, (h, w), fmap.device)
        k = min(rpn.test_pre_nms, h * w * a)
        top = lg.topk(k).indices
        scores.append(lg[top])
        deltas.append(d[top])
        anchors.append(anc[top])
        levels.append(torch.full((k,), i, dtype=torch.int64, device=fmap.device))
    lg, d, anc, lev = (torch.cat(v) for v in (scores, deltas, anchors, levels))
    boxes = clip_boxes_to_image(rpn.coder.decode(d, anc), size)
    keep = remove_small_boxes(boxes, 1e-3)
    boxes, lg, lev = boxes[keep], lg[keep], lev[keep]
    keep = batched_nms(boxes, lg, lev, rpn.nms_iou)
    return boxes[keep[: rpn.test_post_nms]]


def heatmap_keypoints(logits: Tensor, boxes: Tensor) -> Tensor:
    """:func:`regionlab.ops.masks.keypoints_from_heatmaps` with a reshape that holds for no
    detections: ``logits (D, K, m, m)`` over ``boxes (D, 4)`` -> ``(D, K, 3)``."""
    k, m = int(logits.shape[1]), int(logits.shape[-1])
    prob = logits.reshape(-1, k, m * m).softmax(-1)
    score, idx = prob.max(-1)
    gx, gy = (idx % m).to(boxes.dtype) + 0.5, (idx // m).to(boxes.dtype) + 0.5
    x1, y1, x2, y2 = (c[:, None] for c in boxes.unbind(1))
    return torch.stack([x1 + gx * (x2 - x1) / m, y1 + gy * (y2 - y1) / m,
                        score.to(boxes.dtype)], -1)  # fmt: skip


def mask_probabilities(head: nn.Module, logits: Tensor, labels: Tensor) -> Tensor:
    """:meth:`MaskHead.probabilities` without ``arange(len(...))``: ``(D, m, m)``."""
    m = logits.shape[-1]
    if head.kind == "sigmoid":
        idx, probs = labels - 1, logits.sigmoid()
    else:
        idx, probs = labels, logits.softmax(1)
    idx = idx[:, None, None, None].expand(-1, 1, m, m)
    return probs.gather(1, idx)[:, 0]


def detector_export(model: nn.Module, kind: str) -> nn.Module:
    """The export wrapper of a detector of kind ``kind`` (``spec.model``)."""
    from regionlab.models.detection.grid import GridDetector
    from regionlab.models.detection.proposers import SelectiveSearchProposer

    if isinstance(model, GridDetector):
        return GridExport(model)
    if isinstance(getattr(model, "proposer", None), SelectiveSearchProposer):
        raise ExportError(
            f"{kind}: its selective-search proposals run in OpenCV, outside any graph; "
            "export a sliding-window, grid or Faster/Keypoint/Mask R-CNN detector"
        )
    return RegionExport(model)
