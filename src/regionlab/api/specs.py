"""Data specs (the strings of `--data` and `regionlab.train(data=...)`) -> datasets: one table
of readers.

A spec is ``KIND[:PATH...][:key=value,...]``: ``scenes`` | ``scenes:size=128,n=2000,seed=0`` |
``coco:ANN.json:IMAGES_DIR`` | ``voc:DIR`` | ``masks:LIST.txt`` | ``camvid:LIST.txt`` |
``instances:IMAGES_DIR:MASKS_DIR`` | ``yolo:DIR`` | ``yolo:data.yaml`` (or ``data.yaml`` alone) |
``lsp:DIR``. ``ANN.json`` is an instances or keypoints file, or a captions file alone (a caption
set for ``train caption`` and ``train align``). A YOLO ``data.yaml`` gives its ``train`` split to
training, its ``val`` split to ``eval`` and, without ``--val``, to validation
(:func:`has_own_val`); ``:split=test`` picks one. The trailing options go to the reader (e.g.
``voc:DIR:images=images,annotations=annotations`` or ``masks:LIST.txt:num_classes=5,ignore_index=0``);
every file reader takes ``skip_bad=true``, ``allow_outside_root=true`` and ``start=``/``stop=``
(a slice of its samples in their listed order, e.g. Penn-Fudan's sorted file names:
``start=0,stop=120`` and ``start=120``). Every spec, scenes included, takes ``subset=FILE``: the
samples a subset file names (:mod:`regionlab.api.subsets`; how ``regionlab compare`` gives
every run the same splits). Readers are imported only when a spec is opened, so
``--help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields


class SpecError(ValueError):
    pass


@dataclass(frozen=True)
class Reader:
    """One kind of data spec: the paths it takes, how it reads, and a one-line usage."""

    paths: tuple[str, ...]
    usage: str
    open: Callable[[list[str], dict, str, str], object]  # (paths, options, split, spec)


def _scenes(paths, opts, split, spec):
    from regionlab.data.scenes import SceneConfig, SceneDataset

    cfg_keys = {f.name for f in fields(SceneConfig)}
    cfg = SceneConfig(**{k: v for k, v in opts.items() if k in cfg_keys})
    rest = {k: v for k, v in opts.items() if k not in cfg_keys}
    n = rest.pop("n", 2000 if split == "train" else 200)
    seed = rest.pop("seed", 0)
    if rest:
        raise SpecError(f"data spec {spec!r}: unknown option(s) {', '.join(rest)}")
    if n < 1:
        raise SpecError(f"data spec {spec!r}: n={n} gives 0 samples; use n >= 1")
    return SceneDataset(n, seed=seed, split=split, config=cfg)


def _coco(paths, opts, split, spec):
    from regionlab.data.coco import CocoDataset

    return CocoDataset(paths[0], paths[1], **opts)


def _voc(paths, opts, split, spec):
    from regionlab.data.voc import VocDataset

    return VocDataset(paths[0], **opts)


def _masks(paths, opts, split, spec):
    from regionlab.data.masks import MaskFolderDataset

    if not {"classes", "num_classes", "values"} & set(opts):
        raise SpecError(
            f"data spec {spec!r}: a mask folder does not say how many classes it has; add "
            f"the count (':num_classes=N', names class0..classN-1) or the names "
            f"(':classes=sky|road|car'), e.g. {spec}:num_classes=5 (a black-and-white "
            f"mask: {spec}:values=0|255)"
        )
    return MaskFolderDataset(paths[0], **opts)


def _camvid(paths, opts, split, spec):
    from regionlab.data.masks import CAMVID_CLASSES, MaskFolderDataset

    return MaskFolderDataset(paths[0], **{"classes": CAMVID_CLASSES, "ignore_index": 11, **opts})


def _instances(paths, opts, split, spec):
    from regionlab.data.instances import InstanceMaskDataset

    return InstanceMaskDataset(paths[0], paths[1], **opts)


def _yolo(paths, opts, split, spec):
    from regionlab.data.yolo import YoloDataset
    from regionlab.data.yolo_yaml import is_yaml

    if is_yaml(paths[0]):
        opts = {"split": split, **opts}  # the command's split, unless the spec names one
    elif "split" in opts:
        raise SpecError(f"data spec {spec!r}: split= takes a data.yaml (yolo:data.yaml:split=val)")
    return YoloDataset(paths[0], **opts)


def _lsp(paths, opts, split, spec):
    from regionlab.data.lsp import LspDataset

    if "split" in opts:
        raise SpecError(f"data spec {spec!r}: lsp takes start=,stop= instead of split=")
    if "start" in opts or "stop" in opts:
        opts["split"] = (opts.pop("start", None), opts.pop("stop", None))
    return LspDataset(paths[0], **opts)


READERS: dict[str, Reader] = {
    "scenes": Reader((), "scenes[:size=96,n=2000,seed=0]", _scenes),
    "coco": Reader(("ANN.json", "IMAGES_DIR"), "coco:ANN.json:IMAGES_DIR", _coco),
    "voc": Reader(("DIR",), "voc:DIR", _voc),
    "masks": Reader(("LIST.txt",), "masks:LIST.txt:num_classes=N", _masks),
    "camvid": Reader(("LIST.txt",), "camvid:LIST.txt", _camvid),
    "instances": Reader(("IMAGES_DIR", "MASKS_DIR"), "instances:IMAGES_DIR:MASKS_DIR", _instances),
    "yolo": Reader(("DIR",), "yolo:DIR|data.yaml", _yolo),
    "lsp": Reader(("DIR",), "lsp:DIR[:start=0,stop=300]", _lsp),
}
USAGE = " | ".join(r.usage for r in READERS.values()) + "  (optionally :key=value,...)"


def _value(v: str):
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    if v.lower() in ("true", "false"):
        return v.lower() == "true"
    if "|" in v:
        return v.split("|")
    return v


def _options(text: str, spec: str) -> dict:
    out = {}
    for item in filter(None, text.split(",")):
        if "=" not in item:
            raise SpecError(f"data spec {spec!r}: option {item!r} is not key=value")
        k, v = item.split("=", 1)
        out[k.strip()] = _value(v.strip())
    return out


def parse_spec(spec: str) -> tuple[str, list[str], dict]:
    """``"coco:a.json:imgs:skip_bad=true"`` -> ``("coco", ["a.json", "imgs"], {"skip_bad": True})``."""
    kind, _, rest = spec.partition(":")
    if kind not in READERS and kind.lower().endswith((".yaml", ".yml")):
        kind, rest = "yolo", spec  # a bare data.yaml, as Ultralytics' data=data.yaml
    if kind not in READERS:
        raise SpecError(f"unknown data spec {spec!r}; expected {USAGE}")
    parts = rest.split(":") if rest else []
    n = len(READERS[kind].paths)
    opts = {}
    if len(parts) == n + 1:  # one part past the paths: reader options
        opts = _options(parts.pop(), spec)
    if len(parts) != n:
        raise SpecError(f"data spec {spec!r}: {kind} takes {n} path(s); expected {USAGE}")
    return kind, parts, opts


def open_dataset(spec: str, *, split: str = "train", **extra):
    """Build the dataset a spec names. ``split`` only matters for ``scenes`` (train/val streams).

    A dataset with no samples is an error naming its file (with the skipped samples, if
    ``skip_bad`` left none)."""
    kind, paths, opts = parse_spec(spec)
    opts = {**opts, **extra}
    if "classes" in opts and not isinstance(opts["classes"], list | tuple):
        opts["classes"] = [str(opts["classes"])]  # one name (no "|"): a list of one, not letters
    subset_path = opts.pop("subset", None)
    subset = None
    if subset_path is not None:
        from regionlab.api.subsets import read_subset

        if not isinstance(subset_path, str):
            raise SpecError(f"data spec {spec!r}: subset= takes one file path")
        subset = read_subset(subset_path)
        split = subset.split  # the indices name samples of the stream they were drawn from
    window = None
    if kind not in ("lsp", "scenes") and ("start" in opts or "stop" in opts):
        window = (opts.pop("start", None), opts.pop("stop", None))
        if not all(v is None or isinstance(v, int) for v in window):
            raise SpecError(f"data spec {spec!r}: start= and stop= take whole numbers")
    try:
        ds = READERS[kind].open(paths, opts, split, spec)
    except TypeError as e:  # an option the reader does not take
        raise SpecError(f"data spec {spec!r}: {e}") from e
    if window is not None:
        from torch.utils.data import Subset

        ds = Subset(ds, range(len(ds))[slice(*window)])
    if subset is not None:
        from regionlab.api.subsets import take

        ds = take(ds, subset, subset_path, spec)
    if len(ds) == 0:
        from regionlab.data.errors import DataError

        skipped = getattr(ds, "skipped", None)
        why = f"; {skipped.summary()}" if skipped is not None and skipped.count else ""
        raise DataError(getattr(ds, "source", spec), f"has 0 samples (data spec {spec!r}){why}")
    return ds


def with_option(spec: str, key: str, value: str) -> str:
    """``spec`` with the reader option ``key=value`` added (``"voc:DIR"`` ->
    ``"voc:DIR:key=value"``, ``"scenes:n=50"`` -> ``"scenes:n=50,key=value"``); an error when
    the spec has that option already or the value cannot be written in a spec."""
    _, _, opts = parse_spec(spec)
    if key in opts:
        raise SpecError(f"data spec {spec!r} already has {key}=")
    if any(c in str(value) for c in ",:=|"):
        raise SpecError(f"{key}={value!r}: a spec option cannot hold ',', ':', '=' or '|'")
    return f"{spec}{',' if opts else ':'}{key}={value}"


def has_own_val(spec: str) -> bool:
    """Whether the data ``spec`` names brings its own validation split, which validation uses
    when no ``--val`` is given (``open_dataset(spec, split="val")``): the scene generator's val
    stream, or the ``val`` of a YOLO ``data.yaml`` (unless the spec picks a ``split=``)."""
    kind, paths, opts = parse_spec(spec)
    if kind == "scenes":
        return True
    if kind != "yolo" or "split" in opts:
        return False
    from regionlab.data.yolo_yaml import is_yaml, read_data_yaml

    return is_yaml(paths[0]) and read_data_yaml(paths[0]).has("val")
