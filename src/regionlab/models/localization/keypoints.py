"""Keypoint regression (pose): ``K x 2`` coordinates normalised to the object box, plus a
visibility logit per keypoint, from the same pooled-feature design as :mod:`.net`.

The image given to the model is the object's box (cropped and resized by the task), so targets
are ``(x - x1) / w`` and ``(y - y1) / h`` of the crop box: the DeepPose setting (Toshev and
Szegedy, 2014), one regression for all joints.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from regionlab.models.backbones import Normalize
from regionlab.models.localization.net import PooledNeck
from regionlab.models.losses import MultiTaskLoss, regression_loss
from regionlab.ops.dtype import loss_precision
from regionlab.ops.global_batch import global_count


@dataclass
class KeypointTargets:
    """``coords``: ``float (N, K, 2)`` normalised to the crop box; ``labelled``: ``bool (N, K)``
    (has coordinates; the coordinate loss counts only these); ``visible``: ``bool (N, K)``."""

    coords: torch.Tensor
    labelled: torch.Tensor
    visible: torch.Tensor


@dataclass
class KeypointOutput:
    """``coords``: ``(N, K, 2)`` normalised to the crop box; ``visibility``: logits ``(N, K)``.
    With targets: ``loss``, ``losses`` (``coords``, ``visibility``) and ``weights``."""

    coords: torch.Tensor
    visibility: torch.Tensor
    loss: torch.Tensor | None = None
    losses: dict[str, torch.Tensor] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)


class KeypointNet(nn.Module):
    """``loss``: a :class:`MultiTaskLoss` over tasks ``coords`` (regression on labelled joints)
    and ``visibility`` (binary cross-entropy on labelled joints)."""

    def __init__(
        self,
        encoder: nn.Module,
        num_keypoints: int,
        loss: MultiTaskLoss,
        coord_loss: str = "smooth_l1",
        pool: int = 4,
        hidden: int = 256,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if set(loss.names) != {"coords", "visibility"}:
            raise ValueError(
                f"keypoint loss needs tasks 'coords' and 'visibility', got {loss.names}"
            )
        regression_loss(torch.zeros(1), torch.zeros(1), coord_loss)
        self.normalize = Normalize()
        self.encoder = encoder
        self.neck = PooledNeck(encoder.channels[-1], pool, hidden, dropout)
        self.coord_head = nn.Linear(hidden, 2 * num_keypoints)
        self.vis_head = nn.Linear(hidden, num_keypoints)
        # Start at the box centre: a sensible prior that makes early losses small.
        nn.init.constant_(self.coord_head.bias, 0.5)
        self.num_keypoints, self.coord_loss, self.loss = num_keypoints, coord_loss, loss

    def forward(
        self, images: torch.Tensor, targets: KeypointTargets | None = None
    ) -> KeypointOutput:
        """``images``: ``float (N, 3, H, W)`` in ``[0, 1]`` (object crops)."""
        h = self.neck(self.encoder(self.normalize(images)).features[-1])
        coords = loss_precision(self.coord_head(h)).view(-1, self.num_keypoints, 2)
        out = KeypointOutput(coords, loss_precision(self.vis_head(h)))
        if targets is None:
            return out
        lab = targets.labelled
        vis = F.binary_cross_entropy_with_logits(
            out.visibility, targets.visible.float(), reduction="none"
        )  # a mean over the labelled points of the (global) batch
        vis_loss = (vis * lab).sum() / global_count(lab.sum())
        out.losses = {
            "coords": regression_loss(coords, targets.coords, self.coord_loss, lab[..., None]),
            "visibility": vis_loss,
        }
        out.loss = self.loss(out.losses, shared=self.neck.fc.weight)
        out.weights = self.loss.effective_weights()
        return out
