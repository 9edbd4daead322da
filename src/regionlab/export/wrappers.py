"""One export wrapper per task family: an ``nn.Module`` whose forward takes a float image batch
``(N, 3, H, W)`` in ``[0, 1]`` at the task's input size and returns plain tensors (tracing
cannot follow the models' dataclass outputs). Pre- and post-processing that depends on each
input's own size (resizing, letterboxing, cropping, mapping back) stays outside the graph, in
the task's ``predict`` (see :mod:`.runtime`).

=============  ==================  =================================================
task           input               outputs
=============  ==================  =================================================
segment        ``images (N,3,H,W)``  ``logits (N, C, H, W)``, ``classes int64 (N, H, W)``
localize       ``images (N,3,H,W)``  ``logits (N, C)``, ``boxes (N, 4)`` cxcywh / size
keypoints      ``images (N,3,H,W)``  ``coords (N, K, 2)`` / crop size, ``visibility (N, K)``
caption        ``images (N,3,H,W)``  ``tokens int64 (N, max_len)`` greedy, END then anything
detect         ``images (1,3,S,S)``  ``boxes (D, 4)``, ``scores (D,)``, ``labels int64 (D,)``
instance       ``images (1,3,S,S)``  detect's + ``mask_probs (D, m, m)`` in-box (+ ``keypoints``,
                                   ``mask_scores (D,)``)
=============  ==================  =================================================
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from regionlab.export.meta import ExportError


class SegmentationExport(nn.Module):
    """Logits at the input size and their arg-max class map."""

    inputs, outputs, batch_dynamic = ["images"], ["logits", "classes"], True

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        logits = self.model(images).logits
        return logits, logits.argmax(1)


class LocalizationExport(nn.Module):
    """Class logits (no background column) and the ``cxcywh`` box normalised by the input."""

    inputs, outputs, batch_dynamic = ["images"], ["logits", "boxes"], True

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        out = self.model(images)
        return out.logits, out.boxes


class KeypointExport(nn.Module):
    """Keypoints normalised to the crop and visibility logits."""

    inputs, outputs, batch_dynamic = ["images"], ["coords", "visibility"], True

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        out = self.model(images)
        return out.coords, out.visibility


class CaptionExport(nn.Module):
    """Greedy decoding unrolled over ``max_len`` steps: ``tokens (N, max_len)``, each row's
    caption the ids before its first END (the eager greedy decoder stops there; what follows is
    never read). Beam search keeps Python lists of hypotheses and is not exported."""

    inputs, outputs, batch_dynamic = ["images"], ["tokens"], True

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        from regionlab.models.captioning.captioner import PAD, START

        self.model = model
        banned = torch.zeros(model.spec.vocab_size)
        banned[[PAD, START]] = float("-inf")  # never generated (as in the eager decoder)
        self.register_buffer("banned", banned)

    def forward(self, images: Tensor) -> Tensor:
        from regionlab.models.captioning.captioner import START

        m = self.model
        v = m.encode(images)
        state, image = m.start(v)
        words = torch.full_like(v[:, 0], START, dtype=torch.long)
        out = []
        for t in range(m.spec.max_len):
            logits, state = m.step(words, state, image if t == 0 else None)
            words = (logits + self.banned).argmax(1)
            out.append(words)
        return torch.stack(out, 1)


def _pool_matrix(n_in: int, n_out: int, like: Tensor) -> Tensor:
    """``(n_out, n_in)``: row ``i`` averages ``adaptive_avg_pool``'s bin ``i`` (from
    ``floor(i n_in / n_out)`` to ``ceil((i + 1) n_in / n_out)``)."""
    m = torch.zeros(n_out, n_in, dtype=like.dtype)
    for i in range(n_out):
        a, b = (i * n_in) // n_out, math.ceil((i + 1) * n_in / n_out)
        m[i, a:b] = 1.0 / (b - a)
    return m.to(like.device)


class MatmulPooledNeck(nn.Module):
    """:class:`~regionlab.models.localization.net.PooledNeck` with its adaptive average pool as
    two matrix products: the same numbers, and ONNX has no adaptive pooling to a size that does
    not divide the map (the sliding window's 3 x 3 map pooled to 4 x 4). Same parameters."""

    def __init__(self, neck: nn.Module) -> None:
        super().__init__()
        self.pool, self.fc, self.dropout = neck.pool, neck.fc, neck.dropout

    def forward(self, feature: Tensor) -> Tensor:
        h, w = int(feature.shape[-2]), int(feature.shape[-1])
        ph, pw = _pool_matrix(h, self.pool, feature), _pool_matrix(w, self.pool, feature)
        x = torch.einsum("oh,nchw,pw->ncop", ph, feature, pw).flatten(1)
        return self.dropout(F.relu(self.fc(x)))


class ScatterMaxUnpool(nn.Module):
    """:class:`~regionlab.ops.upsample.MaxUnpool` as a scatter of each value to its arg-max
    index (the same numbers; PyTorch exports no ``max_unpool2d`` to ONNX)."""

    def __init__(self, unpool: nn.Module) -> None:
        super().__init__()
        self.scale = unpool.scale

    def forward(self, x: Tensor, indices: Tensor | None = None, output_size=None) -> Tensor:
        if output_size is not None:
            h, w = int(output_size[-2]), int(output_size[-1])
        else:
            h, w = int(x.shape[-2]) * self.scale, int(x.shape[-1]) * self.scale
        flat = x.flatten(2)
        out = flat.new_zeros(flat.shape[0], flat.shape[1], h * w)
        return out.scatter(2, indices.flatten(2), flat).reshape(-1, int(x.shape[1]), h, w)


def exportable(model: nn.Module) -> nn.Module:
    """A float32 CPU copy of ``model`` in eval mode whose parts ONNX cannot hold are swapped for
    the same arithmetic in other ops: every ``PooledNeck`` a :class:`MatmulPooledNeck`, every
    ``MaxUnpool`` a :class:`ScatterMaxUnpool` (the model itself is left as it is)."""
    from regionlab.models.localization.net import PooledNeck
    from regionlab.ops.upsample import MaxUnpool

    swaps = {PooledNeck: MatmulPooledNeck, MaxUnpool: ScatterMaxUnpool}
    model = copy.deepcopy(model).float().cpu().eval()
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if type(child) in swaps:
                setattr(module, name, swaps[type(child)](child))
    return model


def wrap(task, model: nn.Module) -> nn.Module:
    """The export wrapper of ``task``'s ``model`` (a copy, in eval mode); :class:`ExportError`
    for a model no graph can hold."""
    model = exportable(model)
    name = task.name
    if name == "segment":
        return SegmentationExport(model)
    if name == "localize":
        return LocalizationExport(model)
    if name == "keypoints":
        return KeypointExport(model)
    if name == "caption":
        return CaptionExport(model)
    if name in ("detect", "instance"):
        from regionlab.export.detection import detector_export

        return detector_export(model, task.spec.model)
    raise ExportError(
        f"{name}: not exported (alignment encodes sentences of any length with a Python loop, "
        "and its regions come from a source outside the model); use the checkpoint"
    )


def input_size(task) -> tuple[int, int]:
    """``(H, W)`` of the graph's input: the task's training size."""
    size = task.size
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def example_input(task, batch: int = 1) -> Tensor:
    """A seeded random batch of ``batch`` images to trace with."""
    h, w = input_size(task)
    return torch.rand(batch, 3, h, w, generator=torch.Generator().manual_seed(0))
