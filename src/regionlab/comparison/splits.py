"""The three disjoint splits of a comparison, written once to ``DIR/splits/`` as subset files
(:mod:`regionlab.api.subsets`) and named in every run's data specs:

- ``report``: the images every number of ``compare.json`` is on. ``--val SPEC`` when given;
  otherwise a seeded ``report_fraction`` of ``--data``, which no run trains on and no choice
  (``best.pt``, early stopping, recipes) ever sees.
- ``tune``: a seeded ``tune_fraction`` of ``--data`` (never a report image): each run's
  ``--val``, on which it chooses ``best.pt``.
- ``train``: the rest of ``--data``.

Every model and seed gets the same three splits (drawn by ``split_seed``), so the spread over
seeds is the training's own and every model is scored on the same images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from regionlab.api.specs import with_option
from regionlab.api.subsets import SubsetFile, read_subset, write_subset


@dataclass(frozen=True)
class Splits:
    """Data specs of the three splits and a sentence on how each was made."""

    train: str
    tune: str
    report: str
    notes: dict[str, str]


def fractions(n: int, report: float | None, tune: float) -> tuple[int, int]:
    """How many of ``n`` samples go to the report split (``report=None``: none, ``--val``
    reports) and to the tune split; an error when training would get none."""
    for name, f in (("--report-fraction", report), ("--tune-fraction", tune)):
        if f is not None and not 0 < f < 1:
            raise ValueError(f"{name} must be between 0 and 1, got {f}")
    k_report = 0 if report is None else max(1, round(n * report))
    k_tune = max(1, round(n * tune))
    if k_report + k_tune >= n:
        raise ValueError(
            f"--data has {n} samples: holding out {k_report} for the report and {k_tune} for "
            "tuning leaves none to train on; lower the fractions or give more data"
        )
    return k_report, k_tune


def carve(
    data: str,
    val: str | None,
    folder: Path,
    *,
    report_fraction: float = 0.2,
    tune_fraction: float = 0.1,
    seed: int = 0,
) -> Splits:
    """Draw the splits of ``data`` (see the module docstring) and write them to ``folder``
    (absolute paths in the specs, so every run reads the same files). Files already there (a
    resumed comparison) must hold the same indices, else an error: the runs in that folder
    were trained on other splits."""
    import torch

    from regionlab.api.specs import open_dataset

    n = len(open_dataset(data, split="train"))
    k_report, k_tune = fractions(n, None if val is not None else report_fraction, tune_fraction)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    parts = {
        "report": order[:k_report],
        "tune": order[k_report : k_report + k_tune],
        "train": order[k_report + k_tune :],
    }
    folder = Path(folder).resolve()
    notes = {}
    specs = {}
    for name, idx in parts.items():
        if not idx:  # the report is --val
            continue
        note = f"{len(idx)} of {n} samples of --data {data} (seed {seed})"
        path = _keep(folder / f"{name}.json", SubsetFile("train", n, tuple(sorted(idx)), note))
        specs[name], notes[name] = with_option(data, "subset", str(path)), note
    if val is not None:
        specs["report"] = val
        notes["report"] = f"--val {val} (all of it)"
    notes["report"] += ": never trained on, never used for a choice"
    notes["tune"] += ": each run's --val, choosing best.pt"
    return Splits(specs["train"], specs["tune"], specs["report"], notes)


def _keep(path: Path, subset: SubsetFile) -> Path:
    """Write ``subset`` to ``path``, or check that the file already there is the same."""
    if path.exists():
        old = read_subset(path)
        if (old.split, old.size, sorted(old.indices)) != (
            subset.split,
            subset.size,
            sorted(subset.indices),
        ):
            raise ValueError(
                f"{path} holds another split than this comparison draws (other --data, "
                "fractions or --split-seed); its runs were trained on other images: choose "
                "another --out"
            )
        return path
    return write_subset(path, subset)
