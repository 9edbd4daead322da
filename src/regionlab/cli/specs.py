"""Data specs on the command line -> datasets.

``scenes`` | ``scenes:size=128,n=2000,seed=0`` | ``coco:ANN.json:IMAGES_DIR`` | ``voc:DIR`` |
``masks:LIST.txt`` | ``camvid:LIST.txt`` | ``instances:IMAGES_DIR:MASKS_DIR`` | ``yolo:DIR`` |
``lsp:DIR``. Any spec may end in ``:key=value,...`` options for its reader (e.g.
``voc:DIR:images=images,annotations=annotations`` or ``masks:LIST.txt:num_classes=5,ignore_index=0``).
``lsp`` takes ``start=``/``stop=`` (a slice of the samples) instead of a ``split``.
"""

from __future__ import annotations

from dataclasses import fields

from regionlab.data.coco import CocoDataset
from regionlab.data.instances import InstanceMaskDataset
from regionlab.data.lsp import LspDataset
from regionlab.data.masks import CAMVID_CLASSES, MaskFolderDataset
from regionlab.data.scenes import SceneConfig, SceneDataset
from regionlab.data.voc import VocDataset
from regionlab.data.yolo import YoloDataset

KINDS = {
    "scenes": 0,
    "coco": 2,
    "voc": 1,
    "masks": 1,
    "camvid": 1,
    "instances": 2,
    "yolo": 1,
    "lsp": 1,
}
USAGE = (
    "scenes[:size=96,n=2000,seed=0] | coco:ANN.json:IMAGES_DIR | voc:DIR | masks:LIST.txt | "
    "camvid:LIST.txt | instances:IMAGES_DIR:MASKS_DIR | yolo:DIR | lsp:DIR[:start=0,stop=300]  "
    "(optionally :key=value,...)"
)


class SpecError(ValueError):
    pass


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
    if kind not in KINDS:
        raise SpecError(f"unknown data spec {spec!r}; expected {USAGE}")
    parts = rest.split(":") if rest else []
    n = KINDS[kind]
    opts = {}
    if len(parts) == n + 1:  # one part past the paths: reader options
        opts = _options(parts.pop(), spec)
    if len(parts) != n:
        raise SpecError(f"data spec {spec!r}: {kind} takes {n} path(s); expected {USAGE}")
    return kind, parts, opts


def open_dataset(spec: str, *, split: str = "train", **extra):
    """Build the dataset a spec names. ``split`` only matters for ``scenes`` (train/val streams)."""
    kind, paths, opts = parse_spec(spec)
    opts = {**opts, **extra}
    try:
        if kind == "scenes":
            cfg_keys = {f.name for f in fields(SceneConfig)}
            cfg = SceneConfig(**{k: v for k, v in opts.items() if k in cfg_keys})
            rest = {k: v for k, v in opts.items() if k not in cfg_keys}
            n = rest.pop("n", 2000 if split == "train" else 200)
            seed = rest.pop("seed", 0)
            if rest:
                raise SpecError(f"data spec {spec!r}: unknown option(s) {', '.join(rest)}")
            return SceneDataset(n, seed=seed, split=split, config=cfg)
        if kind == "coco":
            return CocoDataset(paths[0], paths[1], **opts)
        if kind == "voc":
            return VocDataset(paths[0], **opts)
        if kind == "masks":
            return MaskFolderDataset(paths[0], **opts)
        if kind == "camvid":
            return MaskFolderDataset(
                paths[0], **{"classes": CAMVID_CLASSES, "ignore_index": 11, **opts}
            )
        if kind == "instances":
            return InstanceMaskDataset(paths[0], paths[1], **opts)
        if kind == "lsp":
            if "split" in opts:
                raise SpecError(f"data spec {spec!r}: lsp takes start=,stop= instead of split=")
            if "start" in opts or "stop" in opts:
                opts["split"] = (opts.pop("start", None), opts.pop("stop", None))
            return LspDataset(paths[0], **opts)
        return YoloDataset(paths[0], **opts)
    except TypeError as e:  # an option the reader does not take
        raise SpecError(f"data spec {spec!r}: {e}") from e
