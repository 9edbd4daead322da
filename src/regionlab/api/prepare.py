"""From user options and data specs to what a training run needs: the training config
(options over ``--config`` over the task's recipe), the validation split, and the decode check
of every sample before the first step. Used by :func:`regionlab.train` and the command line.

No torch at import (``regionlab --help`` imports this module).
"""

from __future__ import annotations

import os

from regionlab.api.specs import has_own_val, parse_spec
from regionlab.engine.config import TrainConfig

# Above this many samples the decode pass before training is skipped (it would take minutes);
# `regionlab data check SPEC` does it on demand.
SCAN_LIMIT = 20_000

# The options of one training run that go to its TrainConfig (the rest go to the task's builder)
BUDGET_FLAGS = (
    "epochs",
    "minutes",
    "steps",
    "batch_size",
    "lr",
    "optimizer",
    "seed",
    "eval_every",
    "checkpoint_every",
    "checkpoint_minutes",
    "sync_bn",
    "num_workers",
    "cache_mb",
    "threads",
    "device",
    "precision",
    "tensorboard",
)
GROWTH_FLAGS = ("grow", "grow_mode", "grow_noise")


def is_main_process() -> bool:
    """Rank 0 of a ``torchrun`` job, or a plain process: the one that prints and writes."""
    return int(os.environ.get("RANK", "0")) == 0


def say(*args) -> None:
    if is_main_process():
        print(*args, flush=True)


def base_dataset(ds):
    """The reader behind ``Subset`` wrappers (held-out splits, folds, skipped samples)."""
    # duck-typed rather than isinstance(Subset): importing torch here would slow `--help`
    while hasattr(ds, "dataset") and hasattr(ds, "indices"):
        ds = ds.dataset
    return ds


def train_config(args, defaults: dict) -> TrainConfig:
    """Options (attributes of ``args``; ``None``: not given) over ``--config`` over the task's recipe ``defaults`` over :class:`TrainConfig`."""
    from regionlab.engine.config import load_config

    flags = {k: getattr(args, k) for k in BUDGET_FLAGS if getattr(args, k, None) is not None}
    for k in GROWTH_FLAGS:
        if getattr(args, k, None) is not None:
            flags[k] = getattr(args, k)
    base = dict(defaults)
    if "steps" in flags and "epochs" in flags:
        raise ValueError("give --steps or --epochs, not both (--steps fixes the run's length)")
    if ("minutes" in flags or "steps" in flags) and "epochs" not in flags:
        base["epochs"] = None  # a time budget or a step count alone replaces the epoch count
    if args.config is not None:
        return load_config(args.config, flags, base=base)
    return TrainConfig.from_dict({**base, **flags}, source="command line")


def classes_of(ds) -> list[str]:
    return list(base_dataset(ds).classes)


def same_classes(train, val, train_spec: str, val_spec: str) -> None:
    """Refuse validation data whose classes are not training's, in the same order: each label
    index would name another class there (a VOC split names its classes from its own XML files,
    so a class absent from the val split shifts every later one), and every validation number
    and ``best.pt`` would be wrong without a word."""
    a, b = (getattr(base_dataset(ds), "classes", None) for ds in (train, val))
    if a is not None and b is not None and list(a) != list(b):
        raise ValueError(
            f"validation data {val_spec} has classes {list(b)}, but the training data "
            f"{train_spec} has {list(a)}: give both the same classes (e.g. :classes=a|b|c)"
        )


def default_size(args, train_set, photos: tuple[int, int]) -> tuple[int, int]:
    """``--size``, else the scenes' own size, else a CPU-friendly size for photos."""
    if getattr(args, "size", None) is not None:
        return args.size
    scene_cfg = getattr(base_dataset(train_set), "config", None)
    return (scene_cfg.size,) * 2 if scene_cfg else photos


def split(train_set, args):
    """Validation set: ``--val SPEC``, the data's own val split (the scenes' val stream, a
    ``data.yaml``'s ``val``: :func:`~regionlab.api.specs.has_own_val`), or a held-out fraction
    (reported, so no sample silently changes role)."""
    import torch

    from regionlab.api.specs import open_dataset

    if args.val is not None:
        return train_set, open_dataset(args.val, split="val")
    if has_own_val(args.data):
        if parse_spec(args.data)[0] != "scenes":  # the scenes' val stream goes without saying
            say(f"validation: the val split of {args.data}")
        return train_set, open_dataset(args.data, split="val")
    n = len(train_set)
    k = max(1, int(round(n * args.val_fraction)))
    if k >= n:
        raise ValueError(f"--val-fraction {args.val_fraction} leaves no training samples of {n}")
    order = torch.randperm(
        n, generator=torch.Generator().manual_seed(args.seed if args.seed is not None else 0)
    ).tolist()
    say(f"no --val given: holding out {k} of {n} samples ({args.val_fraction:.0%}) for validation")
    return (
        torch.utils.data.Subset(train_set, order[k:]),
        torch.utils.data.Subset(train_set, order[:k]),
    )


def describe_split(args, train_set, val_set) -> dict:
    """Which samples trained, which chose ``best.pt`` (``selection``) and which the run's final
    numbers (``metrics.json``'s ``final`` and ``best``) are on: stored in ``run.json`` and
    ``metrics.json``, so no number is read as a score on unseen data when it is not."""
    if args.val is not None:
        held = f"--val {args.val} ({len(val_set)} samples)"
    elif has_own_val(args.data):
        held = f"the val split of {args.data} ({len(val_set)} samples)"
    else:
        seed = args.seed if args.seed is not None else 0
        held = (
            f"{len(val_set)} of {len(train_set) + len(val_set)} samples of --data held out "
            f"(--val-fraction {args.val_fraction}, seed {seed})"
        )
    return {
        "train": f"--data {args.data} ({len(train_set)} samples)",
        "selection": held,
        "final": held,
        "note": "best.pt is chosen on the selection split, so its numbers there are optimistic; "
        "score it on samples no choice saw (regionlab compare's report split, or eval --data)",
    }


def check_data(ds, spec: str, check=None, mode: str = "auto", what: str = "--data"):
    """Decode every sample of ``ds`` (and run the task's per-sample ``check``) before training.

    Problems are all listed at once; with ``:skip_bad=true`` in ``spec`` those samples are left
    out (each reported, with the count); otherwise a :class:`DataProblems` error stops the
    command. Generated data (scenes) has no files and is not scanned."""
    from regionlab.data.errors import DataProblems
    from regionlab.data.scan import scan, without

    if mode == "off" or getattr(base_dataset(ds), "generated", False):
        return ds
    if mode == "auto" and len(ds) > SCAN_LIMIT:
        say(
            f"{what}: {len(ds)} samples, more than {SCAN_LIMIT}: not decoding them all before "
            f"training (--data-check full does; so does `regionlab data check {spec}`)"
        )
        return ds
    report = scan(ds, check)
    if report.ok:
        return ds
    if parse_spec(spec)[2].get("skip_bad"):
        say(f"{what}: skipped {len(report.bad)} bad sample(s) of {report.checked}:")
        for e in report.problems:
            say(f"  - {e}")
        kept = without(ds, report.bad)
        if len(kept) == 0:
            raise DataProblems(report.problems, report.checked, f"{what} {spec}: none is left")
        return kept
    raise DataProblems(
        report.problems,
        report.checked,
        f"(found before training; add :skip_bad=true to the data spec {spec!r} to leave "
        "them out, or fix the files)",
    )
