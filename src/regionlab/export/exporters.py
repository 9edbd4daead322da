"""Write a model as ONNX or TorchScript, with its task's metadata inside the file.

ONNX goes through PyTorch's TorchScript-based exporter (``dynamo=False``): torchvision
registers its NMS, RoIAlign and RoIPool there, and the detectors' outputs have data-dependent
sizes that this exporter records as they are. TorchScript is ``torch.jit.trace`` of the same
wrapper. Both files are written to a temporary name and renamed (atomic).
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch

from regionlab.atomic import temporary_beside
from regionlab.export.meta import EXTRA_FILE, META_KEY, ExportError, ExportMeta, task_classes
from regionlab.export.wrappers import example_input, input_size, wrap

FORMATS = ("onnx", "torchscript")
SUFFIX = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}
DEFAULT_OPSET = 17  # GridSample (masks) needs 16, RoIAlign with aligned=True 16


def resized_task(task, size: tuple[int, int]):
    """``task`` rebuilt at another input size (``detect`` and ``instance`` are square)."""
    h, w = size
    d = task.spec_dict()
    if task.name in ("detect", "instance"):
        if h != w:
            raise ExportError(f"{task.name}: detectors take a square input, got --size {h}x{w}")
        d["size"] = h
    else:
        d["size"] = [h, w]
    return task_classes()[task.name].from_spec_dict(d)


def _meta(task, wrapper, fmt: str, batch: int | None, notes: dict) -> ExportMeta:
    return ExportMeta(task.name, task.spec_dict(), list(task.classes), list(input_size(task)),
                      list(wrapper.inputs), list(wrapper.outputs), fmt, batch,
                      notes=notes)  # fmt: skip


LIMITS = ("score_thresh", "nms_iou", "max_det")  # a detector's selection, fixed in its graph


@contextmanager
def detector_limits(model, iou: float | None, max_det: int | None):
    """``model`` with its NMS IoU and ``max_det`` set for the export (and put back after);
    yields the limits the graph holds, ``{}`` for a model that selects no detections."""
    if not all(hasattr(model, a) for a in LIMITS):
        if (iou, max_det) != (None, None):
            raise ExportError(f"{type(model).__name__}: --iou and --max-det are for detectors")
        yield {}
        return
    before = {a: getattr(model, a) for a in LIMITS}
    if iou is not None and not 0 < iou <= 1:
        raise ExportError(f"--iou must be in (0, 1], got {iou}")
    if max_det is not None and max_det < 1:
        raise ExportError(f"--max-det must be >= 1, got {max_det}")
    try:
        model.nms_iou = before["nms_iou"] if iou is None else float(iou)
        model.max_det = before["max_det"] if max_det is None else int(max_det)
        yield {a: getattr(model, a) for a in LIMITS}
    finally:
        for a, v in before.items():
            setattr(model, a, v)


def _temp(path: Path) -> Path:
    fd, tmp = temporary_beside(path)  # the exported file gets a normal file's permissions
    os.close(fd)
    return Path(tmp)


def _write_torchscript(wrapper, example, meta: ExportMeta, path: Path) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings: the shapes fixed here are intended
        traced = torch.jit.trace(wrapper, (example,), check_trace=False, strict=False)
    tmp = _temp(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # TorchScript's deprecation
            torch.jit.save(traced, str(tmp), _extra_files={EXTRA_FILE: meta.to_json()})
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_onnx(wrapper, example, meta: ExportMeta, path: Path, opset: int,
                dynamic: bool) -> None:  # fmt: skip
    try:
        import onnx
    except ImportError:
        raise ImportError("ONNX export needs onnx: pip install 'regionlab[export]'") from None
    axes = None
    if dynamic:
        axes = {name: {0: "batch"} for name in [*wrapper.inputs, *wrapper.outputs]}
    tmp = _temp(path)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapper, (example,), str(tmp), dynamo=False, opset_version=opset,
                              input_names=list(wrapper.inputs),
                              output_names=list(wrapper.outputs), dynamic_axes=axes)  # fmt: skip
        graph = onnx.load(str(tmp))
        props = {META_KEY: meta.to_json(), "task": meta.task, "classes": ",".join(meta.classes),
                 "size": "x".join(str(s) for s in meta.size)}  # fmt: skip
        onnx.helper.set_model_props(graph, props)
        onnx.save(graph, str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def export_model(task, model, out: str | Path, fmt: str = "onnx",
                 size: tuple[int, int] | None = None, dynamic: bool = False,
                 opset: int = DEFAULT_OPSET, iou: float | None = None,
                 max_det: int | None = None) -> Path:  # fmt: skip
    """Write ``task``'s ``model`` to ``out`` as ``fmt`` (``onnx | torchscript``) at the task's
    input size (or ``size``, ``(H, W)``); ``dynamic``: a free batch dimension (not for the
    detectors, which take one image at a time; without it the graph takes one image per
    call). Detectors: ``iou`` and ``max_det`` (default: the model's own) are fixed inside the
    graph's NMS and recorded in the file, with the score threshold. Returns the path written."""
    if fmt not in FORMATS:
        raise ExportError(f"format must be onnx or torchscript, got {fmt!r}")
    if size is not None:
        task = resized_task(task, size)
    with detector_limits(model, iou, max_det) as limits:
        return _export(task, model, Path(out), fmt, dynamic, opset, limits)


def _export(task, model, path: Path, fmt: str, dynamic: bool, opset: int,
            limits: dict) -> Path:  # fmt: skip
    wrapper = wrap(task, model)
    if dynamic and not wrapper.batch_dynamic:
        raise ExportError(f"{task.name}: the detector graph takes one image at a time; "
                          "--dynamic (a free batch size) does not apply")  # fmt: skip
    notes = {"beam": "greedy"} if task.name == "caption" else {}
    if limits:
        notes["limits"] = limits
    # A free batch is traced with 2 images (so no size-1 dimension is taken for a constant);
    # a fixed one takes one image per call and the runner feeds them one by one.
    meta = _meta(task, wrapper, fmt, None if dynamic else 1, notes)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = example_input(task, 2 if dynamic else 1)
    try:
        if fmt == "torchscript":
            _write_torchscript(wrapper, example, meta, path)
        else:
            _write_onnx(wrapper, example, meta, path, opset, dynamic)
    except (RuntimeError, TypeError, torch.onnx.OnnxExporterError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ExportError(f"{task.name} ({type(model).__name__}): {fmt} export failed: "
                          f"{first}") from None  # fmt: skip
    return path


def export_checkpoint(ckpt: str | Path, out: str | Path | None = None, fmt: str = "onnx",
                      **kw) -> Path:  # fmt: skip
    """Export a training checkpoint (``best.pt`` / ``last.pt``); ``out`` defaults to the
    checkpoint's name with ``.onnx`` or ``.torchscript.pt``."""
    from regionlab.engine.checkpoint import RunCheckpoint
    from regionlab.engine.growing import model_from_checkpoint

    if fmt not in FORMATS:
        raise ExportError(f"format must be onnx or torchscript, got {fmt!r}")
    ckpt = Path(ckpt)
    run = RunCheckpoint.load(ckpt)
    cls = task_classes().get(run.task)
    if cls is None:
        raise ExportError(f"{ckpt}: unknown task {run.task!r}")
    task = cls.from_spec_dict(run.spec)
    model = model_from_checkpoint(task, run)
    out = Path(out) if out is not None else ckpt.with_name(ckpt.stem + SUFFIX[fmt])
    return export_model(task, model, out, fmt, **kw)
