"""Subsets of a data spec's samples, kept in files: how a comparison hands every run the same
training, tune and report images (``--data SPEC:subset=FILE``).

A subset file is JSON::

    {"format": 1, "split": "train", "size": 2000, "indices": [17, 4, ...], "note": "..."}

``indices`` index the samples the spec opens *without* ``subset=`` in the stream ``split``
(``"train"``: as ``--data`` opens it; the scenes' ``"val"`` stream is another set of images), so
``--val SPEC:subset=tune.json`` is part of the training stream even though ``--val`` opens
validation sets. ``size``: how many samples that was when the file was written; data of another
size is refused (the indices would name other images). No torch at import.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

FORMAT = 1
SPLITS = ("train", "val")


class SubsetError(ValueError):
    pass


@dataclass(frozen=True)
class SubsetFile:
    """``indices`` (distinct, each in ``[0, size)``) of the ``split`` stream of a spec that
    had ``size`` samples; ``note`` says how they were chosen (shown in reports)."""

    split: str
    size: int
    indices: tuple[int, ...]
    note: str = ""

    def to_dict(self) -> dict:
        return {"format": FORMAT, **asdict(self), "indices": list(self.indices)}


def write_subset(path: str | Path, subset: SubsetFile) -> Path:
    """Write ``subset`` to ``path`` (atomically); returns the path."""
    from regionlab.atomic import write_text_atomic

    _check(subset, str(path))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(subset.to_dict()) + "\n")
    return Path(path)


def read_subset(path: str | Path) -> SubsetFile:
    """The subset file ``path``; an error naming the file and what is wrong with it."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SubsetError(f"subset file {path}: unreadable ({e})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise SubsetError(f"subset file {path}: not a regionlab subset file (format {FORMAT})")
    try:
        subset = SubsetFile(
            str(data["split"]), int(data["size"]), tuple(data["indices"]), str(data.get("note", ""))
        )
    except (KeyError, TypeError, ValueError) as e:
        raise SubsetError(f"subset file {path}: missing or bad entry ({e})") from None
    _check(subset, str(path))
    return subset


def _check(subset: SubsetFile, where: str) -> None:
    if subset.split not in SPLITS:
        raise SubsetError(f"subset file {where}: split must be one of {SPLITS}, got {subset.split!r}")  # fmt: skip
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in subset.indices):
        raise SubsetError(f"subset file {where}: indices must be whole numbers")
    bad = [i for i in subset.indices if not 0 <= i < subset.size]
    if bad:
        raise SubsetError(
            f"subset file {where}: index {bad[0]} is outside the {subset.size} samples"
        )
    if len(set(subset.indices)) != len(subset.indices):
        raise SubsetError(f"subset file {where}: an index appears twice")
    if not subset.indices:
        raise SubsetError(f"subset file {where}: no indices")


def take(ds, subset: SubsetFile, path: str, spec: str):
    """The samples of ``ds`` (what ``spec`` opens without ``subset=``) that ``subset`` names;
    an error when ``ds`` is not the size the file was written for."""
    from torch.utils.data import Subset

    if len(ds) != subset.size:
        raise SubsetError(
            f"data spec {spec!r}: subset file {path} indexes {subset.size} samples, but the data "
            f"has {len(ds)} (other data than the subset was made for)"
        )
    return Subset(ds, list(subset.indices))
