"""``regionlab.load(path)`` -> a :class:`Predictor`: a checkpoint (or an exported model) that
predicts images from wherever the user has them, in batches, as typed results."""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import torch

from regionlab.api import DEFAULT_CONF
from regionlab.api.families import Family, family, set_detector_limits
from regionlab.api.inputs import Frame, Frames, Skipped
from regionlab.api.results import Result
from regionlab.tasks.inference import inference_copy

EXPORTED_SUFFIXES = {".onnx", ".ts", ".torchscript"}


class Predictor:
    """A trained model that predicts images: ``predictor.predict(source)`` -> one
    :class:`~regionlab.api.results.Result` per image, in that image's own pixels.

    ``source``: a path, a folder, a glob, a video file, a PIL image, an ``HxWx3`` ``uint8``
    array, a ``(3, H, W)`` / ``(N, 3, H, W)`` tensor, or a list of these (see
    :mod:`regionlab.api.inputs`). Detectors (``detect``, ``instance``) take ``conf`` (the
    lowest score kept), ``iou`` (NMS IoU) and ``max_det`` (objects per image); each call may
    override the predictor's own. Build one with :func:`regionlab.load`.
    """

    def __init__(self, task, model, fam: Family, *, device=None, conf: float = DEFAULT_CONF,
                 iou: float | None = None, max_det: int | None = None,
                 batch_size: int = 8, source: str | None = None) -> None:  # fmt: skip
        self.task, self.family, self.source = task, fam, source
        self.device = _device(device)
        # BatchNorm folded, NHWC on the CPU: the same predictions, to float rounding, sooner
        self.model = inference_copy(model, self.device) if model is not None else None
        self.conf, self.iou, self.max_det, self.batch_size = conf, iou, max_det, batch_size
        self.skipped: list[Skipped] = []  # inputs the last call could not read
        if not fam.detector and (iou is not None or max_det is not None):
            raise ValueError(f"iou and max_det are for detect and instance models; "
                             f"{source or 'this'} is a {fam.name} model")  # fmt: skip
        # a call that leaves iou or max_det out gets the checkpoint's own, not the last call's
        self._native = {a: getattr(self.model, a, None) for a in ("nms_iou", "max_det")}

    @property
    def task_name(self) -> str:
        return self.family.name

    @property
    def classes(self) -> list[str]:
        return list(self.task.classes)

    @property
    def size(self) -> tuple[int, int] | int:
        """The input size the model was trained at."""
        return self.task.size

    def __repr__(self) -> str:
        return f"Predictor({self.task_name}, {self.source or 'in memory'}, classes={self.classes})"

    def predict(self, source, **kw) -> list[Result]:
        """Every result of ``source`` as a list (see :meth:`stream` for the arguments)."""
        return list(self.stream(source, **kw))

    __call__ = predict

    def frames(self, source, on_skip: Callable[[Skipped], None] = print) -> Frames:
        """The frames of ``source`` (``len()`` counts them before reading); pass them to
        :meth:`stream` to see how far a long input has got."""
        frames = Frames(source, on_skip)
        self.skipped = frames.skipped
        return frames

    def stream(self, source, *, conf: float | None = None, iou: float | None = None,
               max_det: int | None = None, batch_size: int | None = None,
               on_skip: Callable[[Skipped], None] = print, **options) -> Iterator[Result]:  # fmt: skip
        """Results one by one as the frames of ``source`` are read (a long video is never held
        in memory). ``options`` are the family's own: ``text`` (align: the sentence to align),
        ``beam`` (caption). Unreadable inputs are reported through ``on_skip`` (printed by
        default), skipped, and listed in :attr:`skipped`; none at all readable is an error."""
        kw, max_det, limits = self._options(options, conf, iou, max_det)
        frames = source if isinstance(source, Frames) else self.frames(source, on_skip)
        self.skipped = frames.skipped
        n = 0
        for group in _batches(frames, batch_size or self.batch_size):
            batch = torch.stack([f.image for f in group]).float().div(255)
            if limits is not None:  # each batch: another stream may have run in between
                set_detector_limits(self.model, *limits)
            # no_grad rather than inference_mode: results stay ordinary tensors for the caller;
            # and not around the yield, so the caller's code keeps its own grad mode
            with torch.no_grad():
                results = self.family.predict(self.task, self.model, batch, group, **kw)
            for r in results:
                n += 1
                yield _top(r, max_det)
        if n == 0:
            why = f" ({len(frames.skipped)} skipped as unreadable)" if frames.skipped else ""
            raise ValueError(f"nothing to predict in {_name(source)}{why}")

    def _options(self, options: dict, conf, iou, max_det) -> tuple[dict, int | None, tuple | None]:
        """The family's keyword options, the detections kept per image and the limits to set
        on an eager detector, ``(conf, iou, max_det)`` (detectors)."""
        given = {k: v for k, v in options.items() if v is not None}
        unknown = [k for k in given if k not in self.family.options or k == "conf"]
        if unknown:
            takes = [o for o in self.family.options if o != "conf"]
            raise ValueError(f"{', '.join(unknown)}: not an option of {self.task_name} "
                             f"predictions (it takes {', '.join(takes) or 'none'})")  # fmt: skip
        if not self.family.detector:
            if (conf, iou, max_det) != (None, None, None):
                raise ValueError(f"conf, iou and max_det are for detect and instance models; "
                                 f"this is a {self.task_name} model")  # fmt: skip
            return given, None, None
        conf = self.conf if conf is None else conf
        iou = self.iou if iou is None else iou
        max_det = self.max_det if max_det is None else max_det
        _check_limits(conf, iou, max_det)
        limits = None
        if isinstance(self.model, torch.nn.Module):
            limits = (conf, self._native["nms_iou"] if iou is None else iou,
                      self._native["max_det"] if max_det is None else max_det)  # fmt: skip
        else:
            _check_exported_limits(self.task, conf, iou, max_det)
        return {**given, "conf": conf}, max_det, limits


def load(path: str | Path, *, device=None, conf: float = DEFAULT_CONF, iou: float | None = None,
         max_det: int | None = None, batch_size: int = 8) -> Predictor:  # fmt: skip
    """A :class:`Predictor` for a checkpoint (``best.pt`` / ``last.pt`` of a run) or an exported
    model (``.onnx``, TorchScript ``.ts`` / ``.pt``). ``device``: ``"cpu"``, ``"cuda"``,
    ``"cuda:1"`` or ``None``/``"auto"`` (CUDA when there is one); ``conf``, ``iou``,
    ``max_det``: a detector's defaults for every prediction (see :meth:`Predictor.stream`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint or exported model")
    opts = {"device": device, "conf": conf, "iou": iou, "max_det": max_det,
            "batch_size": batch_size, "source": str(path)}  # fmt: skip
    if path.suffix.lower() in EXPORTED_SUFFIXES or _is_torchscript(path):
        return _load_exported(path, opts)
    task, model, _ = load_run(path)
    return Predictor(task, model, family(task.name, str(path)), **opts)


def load_run(path: str | Path):
    """``(task, model in eval mode, RunCheckpoint)`` of a checkpoint file (an exported model is
    refused: it only predicts)."""
    from regionlab.engine.checkpoint import RunCheckpoint
    from regionlab.engine.growing import model_from_checkpoint
    from regionlab.export.runtime import is_exported

    if is_exported(path):
        raise ValueError(f"{path} is an exported model: it only predicts (regionlab.load, "
                         "regionlab predict); this needs the run's checkpoint")  # fmt: skip
    ckpt = RunCheckpoint.load(path)
    task = family(ckpt.task, str(path)).task_class().from_spec_dict(ckpt.spec)
    model = model_from_checkpoint(task, ckpt)
    model.eval()
    return task, model, ckpt


def device(name: str | torch.device | None) -> torch.device:
    """``auto`` (or none) is CUDA when there is one, else the CPU."""
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except RuntimeError as e:
        raise ValueError(f"device {name!r}: {e}") from None


_device = device


class _ExportedTask:
    """An exported model seen as a task: ``predict(model, images)`` runs the exported graph
    (``model`` is unused) and returns what the task's own ``predict`` would."""

    def __init__(self, exported) -> None:
        self.exported, self.name = exported, exported.task_name
        self.classes, self.size = list(exported.classes), exported.size
        # (the file's metadata object has none: its task, rebuilt from it, has)
        self.skeleton = list(getattr(getattr(exported, "task", None), "skeleton", None) or [])

    @property
    def background(self) -> bool:
        return bool(self.classes) and self.classes[0] == "background"

    def scored(self, det):
        """A detection's masks kept as the model's own task keeps them (its head's threshold,
        from the file's metadata)."""
        return self.exported.task.scored(det)

    def predict(self, model, images: torch.Tensor, **kw):
        # a family passes its options (beam, sentence) even when unset
        return self.exported.predict_tensor(
            images, **{k: v for k, v in kw.items() if v is not None}
        )


def _load_exported(path: Path, opts: dict) -> Predictor:
    try:
        from regionlab.export import load_exported
    except ImportError as e:
        raise ImportError(f"{path} is an exported model, and this regionlab cannot read exported "
                          f"models (regionlab.export: {e})") from e  # fmt: skip
    task = _ExportedTask(load_exported(path))
    return Predictor(task, None, family(task.name, str(path)), **opts)


def _is_torchscript(path: Path) -> bool:
    # a TorchScript archive carries its code; a checkpoint of torch.save has data.pkl only
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(n.endswith("constants.pkl") or "/code/" in n for n in z.namelist())


def _batches(frames, size: int) -> Iterator[list[Frame]]:
    """Consecutive frames of one image size, at most ``size`` at a time."""
    if size < 1:
        raise ValueError(f"batch_size must be >= 1, got {size}")
    group: list[Frame] = []
    for f in frames:
        if group and (len(group) == size or f.image.shape != group[0].image.shape):
            yield group
            group = []
        group.append(f)
    if group:
        yield group


def _top(r: Result, max_det: int | None) -> Result:
    if max_det is None or not hasattr(r, "boxes") or len(r.boxes) <= max_det:
        return r
    from dataclasses import replace

    keep = slice(0, max_det)  # results are sorted by score
    rows = ("boxes", "labels", "scores", "masks", "keypoints", "mask_scores")
    return replace(r, **{k: v[keep] for k in rows if (v := getattr(r, k)) is not None})


def _check_exported_limits(task, conf, iou, max_det) -> None:
    """An exported detector selects inside its graph: an IoU other than the one it holds, more
    objects than it returns, or a score below its own threshold would be silently ignored."""
    limits = task.exported.meta.notes.get("limits") or {}
    where = task.exported.path
    held = limits.get("nms_iou")
    if iou is not None and (held is None or abs(iou - held) > 1e-9):
        raise ValueError(f"{where}: the NMS IoU is fixed in the exported graph "
                         f"({held if held is not None else 'unrecorded'}); export again with "
                         f"`regionlab export CKPT --iou {iou}`")  # fmt: skip
    most = limits.get("max_det")
    if max_det is not None and most is not None and max_det > most:
        raise ValueError(f"{where}: the exported graph returns at most {most} objects per image; "
                         f"export again with `regionlab export CKPT --max-det {max_det}`")  # fmt: skip
    low = limits.get("score_thresh")
    if low is not None and conf < low:
        raise ValueError(f"{where}: the exported graph drops scores below {low}; conf {conf} "
                         "needs the checkpoint")  # fmt: skip


def _check_limits(conf, iou, max_det) -> None:
    if not 0 <= conf <= 1:
        raise ValueError(f"conf must be in [0, 1], got {conf}")
    if iou is not None and not 0 < iou <= 1:
        raise ValueError(f"iou must be in (0, 1], got {iou}")
    if max_det is not None and max_det < 1:
        raise ValueError(f"max_det must be >= 1, got {max_det}")


def _name(source) -> str:
    return str(source) if isinstance(source, (str, Path)) else type(source).__name__
