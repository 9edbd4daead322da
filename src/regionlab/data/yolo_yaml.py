"""Ultralytics' ``data.yaml``: where a YOLO dataset's splits are and what its classes are called.

Read with a real YAML parser and Ultralytics' meaning (``check_det_dataset``):

- ``path``: the dataset root. Absent: the yaml's own folder. Relative: to the yaml's folder, else
  to the current folder (Ultralytics resolves it from the current folder; a root beside the yaml
  is the common case of a dataset moved as a whole).
- ``train`` / ``val`` / ``test``: relative to the root (Roboflow's ``../train/images`` falls back
  to ``train/images`` when the first does not exist, as Ultralytics does). Each is a folder of
  images, a file listing image paths (one a line, relative to the list's folder or absolute), or
  a list of either.
- An image's label file is its path with the last ``images`` folder replaced by ``labels`` and the
  extension by ``.txt``: ``root/images/train/a.jpg`` -> ``root/labels/train/a.txt``.
- ``names``: a list, or a ``{index: name}`` mapping with indices ``0..n-1``; ``nc``, if given too,
  must equal the number of names; ``nc`` alone names the classes ``class0..``.

Every problem raises :class:`DataError` naming the yaml (or list) file and the key (or line).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from regionlab.data.checks import read_text
from regionlab.data.errors import DataError
from regionlab.data.io import resolve_inside

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp"}
YAML_SUFFIXES = {".yaml", ".yml"}
SPLITS = ("train", "val", "test")


def is_yaml(path: str | Path) -> bool:
    """Whether ``path`` names a yaml file (by its extension) rather than a dataset folder."""
    return Path(path).suffix.lower() in YAML_SUFFIXES


@dataclass(frozen=True)
class DataYaml:
    """A parsed ``data.yaml``: ``root`` resolved, each split's entries as written (strings)."""

    file: Path
    root: Path
    names: list[str]
    splits: dict[str, list[str]]  # split name -> folders / list files, relative to root

    def has(self, split: str) -> bool:
        return bool(self.splits.get(split))


def load_yaml(file: str | Path) -> dict:
    """The top-level mapping of a yaml file; a missing, non-UTF-8 or malformed file is a
    :class:`DataError` (a syntax error with its line and column)."""
    file = Path(file)
    if not file.is_file():
        raise DataError(file, "yaml file does not exist")
    text = read_text(file)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, col {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise DataError(file, f"malformed YAML: {problem}", where) from e
    if not isinstance(data, dict):
        raise DataError(file, f"top level must be a mapping of keys, got {type(data).__name__}")
    return data


def parse_names(names: Any, nc: Any, file: str | Path) -> list[str]:
    """Class names from ``names`` (a list or ``{0: a, 1: b}``) and/or ``nc``; see the module."""
    if nc is not None and (not isinstance(nc, int) or isinstance(nc, bool) or nc < 1):
        raise DataError(file, f"nc must be a whole number >= 1, got {nc!r}", "nc")
    if names is None:
        if nc is None:
            raise DataError(file, "gives neither 'names' nor 'nc' (the classes)")
        return [f"class{i}" for i in range(nc)]
    if isinstance(names, dict):
        keys = list(names)
        ints = all(isinstance(k, int) and not isinstance(k, bool) for k in keys)
        if not ints or set(keys) != set(range(len(keys))):
            raise DataError(
                file, f"names must be indexed 0..{len(keys) - 1}, got indices {keys}", "names"
            )
        names = [names[i] for i in range(len(keys))]
    if not isinstance(names, list) or not names:
        raise DataError(
            file, f"names must be a list or an {{index: name}} mapping, got {names!r}", "names"
        )
    bad = [n for n in names if not isinstance(n, (str, int, float)) or isinstance(n, bool)]
    if bad:
        raise DataError(file, f"class name {bad[0]!r} is not a string", "names")
    if nc is not None and nc != len(names):
        raise DataError(file, f"nc is {nc} but names lists {len(names)} classes", "nc")
    return [str(n) for n in names]


def _root(data: dict, file: Path) -> Path:
    path = data.get("path")
    if path is None or path == "":
        return file.parent.resolve()
    if not isinstance(path, str):
        raise DataError(file, f"path must be a folder name, got {path!r}", "path")
    candidates = [Path(path)] if Path(path).is_absolute() else [file.parent / path, Path(path)]
    for c in candidates:
        if c.is_dir():
            return c.resolve()
    tried = " or ".join(str(c) for c in candidates)
    raise DataError(file, f"dataset root {tried} is not a folder", "path")


def read_data_yaml(file: str | Path) -> DataYaml:
    """Parse a ``data.yaml`` (see the module docstring); split entries are checked when used."""
    file = Path(file)
    data = load_yaml(file)
    names = parse_names(data.get("names"), data.get("nc"), file)
    splits: dict[str, list[str]] = {}
    for split in SPLITS:
        value = data.get(split)
        if value is None or value == "":
            continue
        entries = value if isinstance(value, list) else [value]
        if not entries or not all(isinstance(e, str) and e for e in entries):
            raise DataError(
                file,
                f"{split} must be a folder, a list file or a list of them, got {value!r}",
                split,
            )
        splits[split] = entries
    return DataYaml(file, _root(data, file), names, splits)


def label_path(image: Path) -> Path:
    """``.../images/x/a.jpg`` -> ``.../labels/x/a.txt`` (the last ``images`` folder only)."""
    parts = list(image.parts[:-1])
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts, image.stem + ".txt")


@dataclass(frozen=True)
class SplitImages:
    """One split's images (resolved, inside the root unless allowed) and its image folders."""

    images: list[Path]
    folders: list[Path]  # entries that are folders: their label folders are checked for orphans


def split_images(cfg: DataYaml, split: str, *, allow_outside: bool = False) -> SplitImages:
    """The images of ``split``, in entry order (a folder's images sorted by path)."""
    if not cfg.has(split):
        given = ", ".join(s for s in SPLITS if cfg.has(s)) or "none"
        raise DataError(cfg.file, f"has no {split!r} split (it gives: {given})", split)
    images: list[Path] = []
    folders: list[Path] = []
    for entry in cfg.splits[split]:
        where = f"{split}: {entry}"
        path = cfg.root / entry
        if not path.exists() and entry.startswith("../"):
            path = cfg.root / entry[3:]  # Roboflow's exports, as Ultralytics reads them
        path = resolve_inside(cfg.root, str(path), source=cfg.file, where=where,
                              allow_outside=allow_outside)  # fmt: skip
        if path.is_dir():
            folders.append(path)
            images += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        elif path.is_file():
            images += _listed(path, cfg.root, allow_outside)
        else:
            raise DataError(cfg.file, f"{path} is neither an image folder nor a list file", where)
    return SplitImages(images, folders)


def _listed(list_file: Path, root: Path, allow_outside: bool) -> list[Path]:
    """Image paths of a list file, one a line, relative to the list's folder or absolute."""
    text = read_text(list_file)
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        path = resolve_inside(root, str(list_file.parent / name), source=list_file,
                              where=f"line {n}", allow_outside=allow_outside)  # fmt: skip
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            raise DataError(list_file, f"{name!r} is not an image file name", f"line {n}")
        if not path.is_file():
            raise DataError(list_file, f"image {path} does not exist", f"line {n}")
        out.append(path)
    return out
