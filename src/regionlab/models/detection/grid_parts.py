"""What both heads of the single-shot grid detector share: two convolution towers per level and
one raw-output type. See :mod:`regionlab.models.detection.grid`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from regionlab.models.detection.csp import ConvBNAct
from regionlab.ops.dtype import loss_precision


class GridBranches(nn.Module):
    """Per level, two convolution towers on the neck map: ``convs`` ``3x3`` ConvBNAct then a
    ``1x1`` to ``cls_out`` channels (class branch, ``cls_width`` wide) and to ``box_out``
    channels (box branch, ``box_width`` wide). Decoupled branches: what and where are
    different questions and converge faster without sharing the last layers."""

    def __init__(
        self,
        in_channels: Sequence[int],
        cls_out: int,
        box_out: int,
        cls_width: int,
        box_width: int,
        convs: int = 2,
    ) -> None:
        super().__init__()

        def tower(cin: int, width: int, out: int) -> nn.Sequential:
            layers = [ConvBNAct(cin if i == 0 else width, width, 3) for i in range(convs)]
            return nn.Sequential(*layers, nn.Conv2d(width if convs else cin, out, 1))

        self.cls = nn.ModuleList(tower(c, cls_width, cls_out) for c in in_channels)
        self.box = nn.ModuleList(tower(c, box_width, box_out) for c in in_channels)

    def forward(self, feats: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
        """One prediction per cell: ``(cls (N, P, cls_out), box (N, P, box_out))`` over all
        levels (a head with ``K`` per cell flattens each level itself, see :func:`flatten`)."""
        cls = [flatten(head(f), 1) for head, f in zip(self.cls, feats)]
        box = [flatten(head(f), 1) for head, f in zip(self.box, feats)]
        return torch.cat(cls, 1), torch.cat(box, 1)


def flatten(x: Tensor, k: int) -> Tensor:
    """A head map ``(N, K * c, h, w)`` to ``(N, h * w * K, c)``: row ``(i * w + j) * K + a`` is
    prediction ``a`` of cell ``(i, j)``, the order of
    :meth:`~regionlab.ops.anchors.AnchorGenerator.level_anchors`."""
    n, kc, h, w = x.shape
    return loss_precision(x).permute(0, 2, 3, 1).reshape(n, h * w * k, kc // k)


@dataclass
class HeadOutput:
    """Raw head outputs over all levels, ``P`` predictions per image (cells times ``K``).

    ``cls``: ``(N, P, C)`` sigmoid logits (:class:`PointHead`) or ``(N, P, C + 1)`` softmax
    logits, column 0 background (:class:`AnchorHead`); ``box``: ``(N, P, 4)`` raw box outputs;
    ``priors``: ``(P, 4)`` the reference of each prediction (``(x, y, stride, stride)`` points
    for :class:`PointHead`, ``xyxy`` anchors for :class:`AnchorHead`); ``image_size``:
    ``(H, W)`` of the input.
    """

    cls: Tensor
    box: Tensor
    priors: Tensor
    image_size: tuple[int, int]

    def detach(self) -> HeadOutput:
        return HeadOutput(self.cls.detach(), self.box.detach(), self.priors, self.image_size)


def feature_sizes(feats: Sequence[Tensor]) -> tuple[tuple[int, int], ...]:
    return tuple((int(f.shape[-2]), int(f.shape[-1])) for f in feats)
