"""Faster R-CNN's region proposal network: the learned proposer."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import clip_boxes_to_image, remove_small_boxes

from regionlab.models.detection.box_head import box_regression_loss
from regionlab.models.detection.protocols import Maps
from regionlab.models.detection.region_targets import sample_regions
from regionlab.models.losses import TaskKind
from regionlab.ops.anchors import AnchorGenerator
from regionlab.ops.boxes import BoxCoder
from regionlab.ops.detections import Detections
from regionlab.ops.dtype import loss_precision
from regionlab.ops.global_batch import global_count
from regionlab.ops.matcher import Matcher
from regionlab.ops.nms import batched_nms_each
from regionlab.ops.sampler import BalancedSampler, image_generators


class RPN(nn.Module):
    """Region proposals from the cropper's feature map(s).

    A ``3x3`` convolution, then per cell and anchor an objectness logit and ``coder`` deltas;
    with a pyramid the same layers slide over every level, each with its own anchors (so every
    level needs the same number of anchors per cell). Training: anchors labelled by
    ``matcher`` (Faster R-CNN's ``0.7 / 0.3`` with low-quality matches: every object gets its
    best anchor) and sampled by ``sampler`` (``256`` per image, half positive at most), both
    through :func:`~regionlab.models.detection.region_targets.sample_regions` like the second
    stage; losses ``rpn_cls`` (binary cross-entropy) and ``rpn_box`` (smooth L1, ``beta =
    1/9``, divided by the sampled count). Proposals: per level the ``pre_nms`` best-scoring
    decoded anchors, clipped, small ones dropped, NMS at ``nms_iou`` within each level, then the
    ``post_nms`` best over all levels (fewer at test time: ``test_pre_nms`` /
    ``test_post_nms``)."""

    loss_tasks: dict[str, TaskKind] = {"rpn_cls": "classification", "rpn_box": "regression"}

    def __init__(
        self,
        channels: int,
        anchors: AnchorGenerator,
        matcher: Matcher,
        sampler: BalancedSampler,
        coder: BoxCoder,
        pre_nms: int = 1000,
        post_nms: int = 300,
        test_pre_nms: int = 600,
        test_post_nms: int = 150,
        nms_iou: float = 0.7,
    ) -> None:
        super().__init__()
        a = anchors.shared_per_cell()
        self.anchors, self.matcher, self.sampler, self.coder = anchors, matcher, sampler, coder
        self.conv = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(True))
        self.objectness = nn.Conv2d(channels, a, 1)
        self.deltas = nn.Conv2d(channels, 4 * a, 1)
        for layer in (self.objectness, self.deltas):
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.zeros_(layer.bias)
        self.pre_nms, self.post_nms = pre_nms, post_nms
        self.test_pre_nms, self.test_post_nms = test_pre_nms, test_post_nms
        self.nms_iou = nms_iou
        self._anchor_cache: dict = {}

    def forward(self, images: Tensor, maps: Maps, targets=None, gen=None):
        if len(maps) != self.anchors.num_levels:
            raise ValueError(
                f"{len(maps)} feature maps for {self.anchors.num_levels} anchor levels"
            )
        a = self.objectness.out_channels
        logits, deltas, anchors, level = [], [], [], []
        for i, m in enumerate(maps):
            n, _, h, w = m.shape
            t = self.conv(m)
            logits.append(
                loss_precision(self.objectness(t)).permute(0, 2, 3, 1).reshape(n, -1)
            )  # (N, h*w*A)
            deltas.append(loss_precision(self.deltas(t)).view(n, a, 4, h, w).permute(0, 3, 4, 1, 2)
                          .reshape(n, -1, 4))  # fmt: skip
            anchors.append(self._level_anchors(i, (h, w), m.device))
            level.append(torch.full((len(anchors[-1]),), i, device=m.device))
        size = (int(images.shape[-2]), int(images.shape[-1]))
        proposals = self._propose(logits, deltas, anchors, level, size)
        losses = {}
        if targets is not None:
            losses = self._losses(torch.cat(logits, 1), torch.cat(deltas, 1),
                                  torch.cat(anchors), targets, gen)  # fmt: skip
        return proposals, losses

    def _level_anchors(self, level: int, size: tuple[int, int], device) -> Tensor:
        """The anchors of one level, built once per map size (in float64, then cast)."""
        key = (level, size, str(device))
        if key not in self._anchor_cache:
            self._anchor_cache[key] = self.anchors.level_anchors(level, size, device,
                                                                 torch.float32)  # fmt: skip
        return self._anchor_cache[key]

    @torch.no_grad()
    def _propose(self, logits, deltas, anchors, level, size) -> list[Tensor]:
        pre, post = (self.pre_nms, self.post_nms) if self.training else (
            self.test_pre_nms, self.test_post_nms
        )  # fmt: skip
        # Per level, the best `pre` anchors of each image (a fine level would crowd out the
        # coarse ones by its number of cells alone); decoded and clipped for the whole batch.
        top = [lg.detach().float().topk(min(pre, lg.shape[1]), dim=1).indices for lg in logits]
        n = len(logits[0])
        scores = torch.cat([x.detach().float().gather(1, t) for x, t in zip(logits, top)], 1)
        d = torch.cat([x.detach().float().gather(1, t[..., None].expand(-1, -1, 4))
                       for x, t in zip(deltas, top)], 1)  # fmt: skip
        anc = torch.cat([x[t] for x, t in zip(anchors, top)], 1)  # (N, M, 4)
        lev = torch.cat([x[t] for x, t in zip(level, top)], 1)
        boxes = clip_boxes_to_image(self.coder.decode(d.reshape(-1, 4), anc.reshape(-1, 4)),
                                    size).view(n, -1, 4)  # fmt: skip
        keep = [remove_small_boxes(b, 1e-3) for b in boxes]
        boxes = [b[k] for b, k in zip(boxes, keep)]
        # NMS within each level: serial kernels, run side by side in the run's threads, each
        # on as many of its level's best as it takes to keep the `post` wanted
        kept = batched_nms_each(boxes, [s[k] for s, k in zip(scores, keep)],
                                [lv[k] for lv, k in zip(lev, keep)], self.nms_iou,
                                limit=post)  # fmt: skip
        return [b[k] for b, k in zip(boxes, kept)]

    def _losses(self, logits: Tensor, deltas: Tensor, anchors: Tensor,
                targets: Sequence[Detections],
                gen: torch.Generator | Sequence[torch.Generator]) -> dict[str, Tensor]:  # fmt: skip
        """``gen``: one generator per image (or one for all)."""
        idx, labels, pred, refs, gt = [], [], [], [], []
        for i, (target, g) in enumerate(zip(targets, image_generators(gen, len(targets)))):
            pos, neg, matches = sample_regions(self.matcher, self.sampler, anchors, target, g)
            idx.append(torch.cat([pos, neg]) + i * len(anchors))
            labels.append(torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))]))
            if len(pos):
                pred.append(deltas[i, pos])
                refs.append(anchors[pos])
                gt.append(target.boxes[matches[pos]])
        idx = torch.cat(idx)
        labels = torch.cat(labels).to(logits)
        count = global_count(len(idx))  # the (global) batch's sampled anchors
        cls = F.binary_cross_entropy_with_logits(logits.reshape(-1)[idx], labels,
                                                 reduction="sum") / count  # fmt: skip
        if pred:  # (no collective below)
            box = box_regression_loss(self.coder, torch.cat(pred), torch.cat(refs),
                                      torch.cat(gt), count)  # fmt: skip
        else:
            box = deltas.sum() * 0.0
        return {"rpn_cls": cls, "rpn_box": box}
