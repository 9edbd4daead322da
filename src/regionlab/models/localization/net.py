"""Classification + localization: one backbone, a class head and a box head, one multi-task loss.

The classic recipe of the lecture: treat "where" as regression next to "what". Features of the
last encoder stage are pooled to a small ``pool x pool`` grid (not to 1x1: a global average would
throw away *where* things are), flattened, and go through one shared fully connected layer (the
"neck"); both heads read the neck. The neck's weight is the last shared layer GradNorm balances.

Box format at the model boundary: ``cxcywh`` normalised by the input size (all in ``[0, 1]`` for
boxes inside the image).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from regionlab.models.backbones import Normalize
from regionlab.models.losses import MultiTaskLoss, regression_loss
from regionlab.ops.dtype import loss_precision


class PooledNeck(nn.Module):
    """Last encoder map ``(N, C, h, w)`` -> ``(N, hidden)``: adaptive average pool to
    ``pool x pool``, flatten, linear, ReLU (dropout in training)."""

    def __init__(self, channels: int, pool: int = 4, hidden: int = 256, dropout: float = 0.0):
        super().__init__()
        self.pool = pool
        self.fc = nn.Linear(channels * pool * pool, hidden)
        self.dropout = nn.Dropout(dropout)

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(feature, self.pool).flatten(1)
        return self.dropout(F.relu(self.fc(x)))


@dataclass
class LocalizationTargets:
    """``labels``: ``int64 (N,)`` object class in ``[0, num_classes)``; ``boxes``: ``float (N, 4)``
    ``cxcywh`` normalised by the input size."""

    labels: torch.Tensor
    boxes: torch.Tensor


@dataclass
class LocalizationOutput:
    """``logits``: ``(N, num_classes)``; ``boxes``: ``(N, 4)`` normalised ``cxcywh`` for the
    predicted class (class-specific heads) or the one box (class-agnostic). With targets:
    ``loss`` (scalar, weighted total), ``losses`` (each task's unweighted loss) and ``weights``
    (each task's current multiplier)."""

    logits: torch.Tensor
    boxes: torch.Tensor
    loss: torch.Tensor | None = None
    losses: dict[str, torch.Tensor] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)


class LocalizationNet(nn.Module):
    """``encoder``: any module returning an :class:`~regionlab.models.backbones.EncoderOutput` and
    exposing ``channels``; ``num_classes``: object classes (no background: every image has one
    object); ``class_specific``: one box per class (the true class's box is trained, the predicted
    class's box is returned) instead of one class-agnostic box; ``box_loss``: ``l2 | l1 |
    smooth_l1``; ``loss``: the :class:`MultiTaskLoss` over tasks ``cls`` and ``box``."""

    def __init__(
        self,
        encoder: nn.Module,
        num_classes: int,
        loss: MultiTaskLoss,
        class_specific: bool = False,
        box_loss: str = "smooth_l1",
        pool: int = 4,
        hidden: int = 256,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if set(loss.names) != {"cls", "box"}:
            raise ValueError(f"localization loss needs tasks 'cls' and 'box', got {loss.names}")
        regression_loss(torch.zeros(1), torch.zeros(1), box_loss)  # validates the name early
        self.normalize = Normalize()
        self.encoder = encoder
        self.neck = PooledNeck(encoder.channels[-1], pool, hidden, dropout)
        self.cls_head = nn.Linear(hidden, num_classes)
        self.box_head = nn.Linear(hidden, 4 * (num_classes if class_specific else 1))
        self.num_classes, self.class_specific, self.box_loss = num_classes, class_specific, box_loss
        self.loss = loss

    def forward(
        self, images: torch.Tensor, targets: LocalizationTargets | None = None
    ) -> LocalizationOutput:
        """``images``: ``float (N, 3, H, W)`` in ``[0, 1]``."""
        h = self.neck(self.encoder(self.normalize(images)).features[-1])
        logits, boxes = loss_precision(self.cls_head(h)), loss_precision(self.box_head(h))
        if self.class_specific:
            boxes = boxes.view(-1, self.num_classes, 4)  # (-1: a traced batch stays free)
            picked = boxes.gather(1, logits.argmax(1)[:, None, None].expand(-1, 1, 4))[:, 0]
        else:
            picked = boxes
        out = LocalizationOutput(logits, picked)
        if targets is None:
            return out
        trained = boxes[torch.arange(len(boxes)), targets.labels] if self.class_specific else boxes
        out.losses = {
            "cls": F.cross_entropy(logits, targets.labels),
            "box": regression_loss(trained, targets.boxes, self.box_loss),
        }
        out.loss = self.loss(out.losses, shared=self.neck.fc.weight)
        out.weights = self.loss.effective_weights()
        return out
