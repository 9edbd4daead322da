"""Run an exported file: onnxruntime for ``.onnx`` (the ``export`` extra), ``torch.jit.load``
for TorchScript, behind the task's own ``predict``.

:func:`load_exported` rebuilds the task from the file's metadata and wraps the graph in
:class:`GraphModel`, an ``nn.Module`` that answers the calls ``task.predict`` makes of an eager
model (``model(x).logits``, ``.detections``, ``model.generate(x)``, ...). So the resizing,
letterboxing, cropping and mapping back to each input's pixels are the eager code itself, and
:meth:`ExportedModel.predict_tensor` returns exactly the typed results of ``task.predict``.
"""

from __future__ import annotations

import warnings
import zipfile
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from torch import Tensor, nn

from regionlab.export.meta import EXTRA_FILE, META_KEY, ExportError, ExportMeta, task_from_meta
from regionlab.ops.detections import Detections
from regionlab.ops.masks import paste_masks


def is_exported(path: str | Path) -> bool:
    """Whether ``path`` is an exported model (``.onnx``, or TorchScript carrying regionlab
    metadata) rather than a training checkpoint."""
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        return True
    if not path.is_file() or not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(n.endswith(f"extra/{EXTRA_FILE}") for n in z.namelist())


@contextmanager
def torch_threads(n: int | None):
    """torch's intra-op threads set to ``n`` inside the block and put back after (``None``:
    left as they are)."""
    before = torch.get_num_threads()
    if n is None or n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class _OnnxGraph:
    # The torch code around the graph (resizing, letterboxing, mapping back) runs on one
    # thread: onnxruntime has threads of its own, and torch's OpenMP threads, once woken by
    # those small ops, spin for milliseconds after each and take cores from onnxruntime's
    # (2 threads, grid detector: 13.2 -> 10.0 ms per image end to end)
    host_threads = 1

    def __init__(self, path: Path) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise ImportError(
                f"{path}: running an ONNX model needs onnxruntime: pip install 'regionlab[export]'"
            ) from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()  # as many as torch uses
        try:
            self.session = ort.InferenceSession(str(path), options,
                                                providers=["CPUExecutionProvider"])  # fmt: skip
        except Exception as e:  # onnxruntime raises its own types for unreadable files
            raise ExportError(f"{path}: not a readable ONNX model ({e})") from None
        props = self.session.get_modelmeta().custom_metadata_map
        if META_KEY not in props:
            raise ExportError(f"{path}: an ONNX model without regionlab metadata")
        self.meta = ExportMeta.from_json(props[META_KEY], str(path))

    def __call__(self, images: Tensor) -> list[Tensor]:
        feed = {self.meta.inputs[0]: images.detach().float().cpu().contiguous().numpy()}
        return [torch.from_numpy(np.asarray(o)) for o in self.session.run(self.meta.outputs, feed)]


class _TorchScriptGraph:
    host_threads = None  # torch runs the graph itself, on its threads as they are

    def __init__(self, path: Path) -> None:
        extra = {EXTRA_FILE: ""}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # TorchScript's deprecation
                self.module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        except (RuntimeError, ValueError) as e:
            raise ExportError(f"{path}: not a readable TorchScript model ({e})") from None
        if not extra[EXTRA_FILE]:
            raise ExportError(f"{path}: a TorchScript model without regionlab metadata")
        self.meta = ExportMeta.from_json(extra[EXTRA_FILE], str(path))

    @torch.inference_mode()
    def __call__(self, images: Tensor) -> list[Tensor]:
        out = self.module(images.detach().float().cpu().contiguous())
        return list(out) if isinstance(out, (tuple, list)) else [out]


class GraphModel(nn.Module):
    """An exported graph in the shape of the eager model, for the task's ``predict``: outputs
    on the CPU, whatever device the caller moved it to."""

    def __init__(self, graph, meta: ExportMeta) -> None:
        super().__init__()
        self.graph, self.meta = graph, meta
        # task.predict asks a model for its device through its parameters
        self.anchor = nn.Parameter(torch.zeros(1), requires_grad=False)

    def _named(self, images: Tensor) -> dict[str, Tensor]:
        """Each output by name, for a batch the graph takes whole (``meta.batch`` free) or a
        fixed number of images at a time."""
        b = self.meta.batch
        if b is None or len(images) == b:
            return dict(zip(self.meta.outputs, self.graph(images)))
        if len(images) % b:
            raise ValueError(f"this export takes {b} images per call, got {len(images)}")
        parts = [self.graph(chunk) for chunk in images.split(b)]
        return {k: torch.cat(v) for k, v in zip(self.meta.outputs, zip(*parts))}

    def forward(self, images: Tensor, *args, **kwargs):
        if self.meta.task not in ("detect", "instance"):
            return SimpleNamespace(**self._named(images))
        dets = []
        size = (int(images.shape[-2]), int(images.shape[-1]))
        for img in images:  # the detector graph takes one image at a time
            out = self._named(img[None])
            masks = out.get("masks")  # files exported before masks left the graph
            if "mask_probs" in out:
                masks = paste_masks(out["mask_probs"], out["boxes"], size)
            det = Detections(
                out["boxes"],
                out["labels"].long(),
                out["scores"],
                masks=masks,
                keypoints=out.get("keypoints"),
                mask_scores=out.get("mask_scores"),
            )
            # best first, as the eager model gives them (files exported at 6c4c0a3..4dc8eae
            # scored their rows by their masks, left in box order: ONNX has no stable sort)
            dets.append(det[det.scores.argsort(descending=True, stable=True)])
        return SimpleNamespace(detections=dets)

    def generate(self, images: Tensor, beam: int = 1, **kwargs) -> list[list[int]]:
        """Greedy captions, the ids before each row's first END (the graph holds no beam
        search: ``beam > 1`` is refused, not silently ignored)."""
        from regionlab.models.captioning.captioner import END

        if beam != 1:
            raise ValueError(f"an exported captioner decodes greedily; beam {beam} needs the "
                             "checkpoint")  # fmt: skip

        rows = self._named(images)["tokens"].tolist()
        return [row[: row.index(END)] if END in row else row for row in rows]


class ExportedModel:
    """An exported file, ready to predict: :attr:`task` (rebuilt from the metadata),
    :attr:`model` (:class:`GraphModel`), :attr:`task_name`, :attr:`classes`, :attr:`size`."""

    def __init__(self, path: Path, graph) -> None:
        self.path, self.meta = path, graph.meta
        self.task = task_from_meta(graph.meta, str(path))
        self.model = GraphModel(graph, graph.meta)

    @property
    def task_name(self) -> str:
        return self.meta.task

    @property
    def classes(self) -> list[str]:
        return list(self.meta.classes)

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.meta.size)

    @property
    def format(self) -> str:
        return self.meta.format

    def predict_tensor(self, images: Tensor, **kwargs):
        """``images`` float ``(N, 3, H, W)`` in ``[0, 1]``, any size -> what ``task.predict``
        returns (class maps, ``Detections`` in each input's pixels, captions, ...). With
        onnxruntime, torch's part (the task's pre- and post-processing) runs on one thread
        (see ``_OnnxGraph``); the graph on the threads the file was loaded with."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (N, 3, H, W), got {tuple(images.shape)}")
        with torch_threads(self.model.graph.host_threads):
            return self.task.predict(self.model, images, **kwargs)


def load_exported(path: str | Path) -> ExportedModel:
    """An ``.onnx`` (onnxruntime) or TorchScript file written by ``regionlab export``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix.lower() == ".onnx":
        return ExportedModel(path, _OnnxGraph(path))
    if not is_exported(path):
        raise ExportError(f"{path}: not an exported regionlab model (.onnx or TorchScript)")
    return ExportedModel(path, _TorchScriptGraph(path))
