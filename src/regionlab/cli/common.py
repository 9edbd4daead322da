"""What every task's command line shares: argument types, flag groups, the training config from
flags, validation splits and the data check before training.

Importing this module must not import torch (``regionlab --help`` answers in well under a
second); heavy imports happen inside the functions that need them.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from regionlab.cli.specs import USAGE, parse_spec
from regionlab.engine.config import TrainConfig
from regionlab.names import BACKBONES, REGRESSION_LOSSES, WEIGHTINGS

# Above this many samples the decode pass before training is skipped (it would take minutes);
# `regionlab data check SPEC` does it on demand.
SCAN_LIMIT = 20_000


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows each flag's default, keeps descriptions' line breaks. A help text that states its
    default itself (flags whose value comes from a recipe or ``--config``, parsed as ``None``)
    is left alone, and ``None`` is never shown as a default."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "(default" in text or action.default in (None, argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


def size_type(text: str) -> tuple[int, int]:
    try:
        if "x" in text:
            h, w = text.lower().split("x")
            return int(h), int(w)
        return int(text), int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be N or HxW, got {text!r}") from None


def ints_type(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def free_dir(path: Path) -> Path:
    """``path`` if unused, else ``path-1``, ``path-2``, ... (never overwrite an earlier run)."""
    if not path.exists():
        return path
    k = 1
    while path.with_name(f"{path.name}-{k}").exists():
        k += 1
    return path.with_name(f"{path.name}-{k}")


def is_main_process() -> bool:
    """Rank 0 of a ``torchrun`` job, or a plain process: the one that prints and writes."""
    return int(os.environ.get("RANK", "0")) == 0


def say(*args) -> None:
    if is_main_process():
        print(*args, flush=True)


# --------------------------------------------------------------------------- flag groups

BUDGET_FLAGS = (
    "epochs",
    "minutes",
    "batch_size",
    "lr",
    "optimizer",
    "seed",
    "eval_every",
    "checkpoint_every",
    "num_workers",
    "cache_mb",
    "threads",
    "device",
)


def add_data_flags(p: argparse.ArgumentParser, task: str) -> None:
    p.add_argument("--data", required=True, help=f"training data spec: {USAGE}")
    p.add_argument(
        "--val",
        help="validation data spec (default: the scenes' own validation stream, else a "
        "held-out --val-fraction of --data)",
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="without --val: the fraction of --data held out for validation (chosen by --seed, "
        "reported when the run starts)",
    )
    p.add_argument("--out", default=f"runs/{task}", help="output folder")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument(
        "--data-check",
        choices=["auto", "full", "off"],
        default="auto",
        help="decode every sample before training so a bad file stops the run at once "
        f"(auto: when the set has at most {SCAN_LIMIT} samples)",
    )


def add_budget_flags(
    p: argparse.ArgumentParser,
    defaults: dict,
    photo: dict | None = None,
    by_model: dict | None = None,
) -> None:
    """How one training run goes. ``defaults``: this task's recipe over :class:`TrainConfig`'s
    defaults, ``photo``: its changes on real photos, ``by_model``: changes for one ``--model``
    (all shown in ``--help``). Flags left unset fall back to ``--config``, then these."""
    d = {**TrainConfig().to_dict(), **defaults}
    photo = photo or {}

    def shown(key: str) -> str:
        text = "none" if d[key] is None else str(d[key])
        if key in photo:
            text += f" on built-in scenes, {photo[key]} on photos"
        for model, recipe in (by_model or {}).items():
            if key in recipe:
                text += f"; {recipe[key]} with --model {model}"
        return f" (default: {text})"

    p.add_argument("--config", help="training config file (.json or .toml); flags override it")
    p.add_argument(
        "--epochs",
        type=int,
        help="passes over the training set; with --minutes, whichever ends first" + shown("epochs"),
    )
    p.add_argument(
        "--minutes",
        type=float,
        help="wall-clock training budget (evaluation excluded); the LR schedule is "
        "stretched over it. Alone, it replaces --epochs" + shown("minutes"),
    )
    p.add_argument(
        "--batch-size",
        type=int,
        help="samples per optimisation step (per process under torchrun)" + shown("batch_size"),
    )
    p.add_argument(
        "--lr",
        type=float,
        help="peak learning rate, after a linear warm-up, then cosine decay" + shown("lr"),
    )
    p.add_argument("--optimizer", choices=["adamw", "sgd"], help="optimiser" + shown("optimizer"))
    p.add_argument(
        "--seed", type=int, help="seed of weights, batches and augmentation" + shown("seed")
    )
    p.add_argument("--eval-every", type=int, help="evaluate every N epochs" + shown("eval_every"))
    p.add_argument(
        "--checkpoint-every",
        type=int,
        help="also write last.pt every N steps (0: at the end of each epoch)"
        + shown("checkpoint_every"),
    )
    p.add_argument("--num-workers", type=int, help="data loading processes" + shown("num_workers"))
    p.add_argument(
        "--cache-mb",
        type=float,
        help="decoded training samples kept in memory, in MB (0: decode every time; "
        "validation samples get a quarter of it; off with --num-workers > 0)" + shown("cache_mb"),
    )
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: one per core)")
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N" + shown("device"))


def add_growth_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--grow",
        help='growth schedule, e.g. "epoch=3:wider(encoder.stages.1,2x); '
        'epoch=6:deeper(encoder.stages.2)" (checked against the model before training)',
    )
    p.add_argument(
        "--grow-mode",
        choices=["net2net", "morphism"],
        help="how widened layers get new units: replicas (net2net) or new units with zero "
        "outgoing weights (morphism) (default: net2net)",
    )
    p.add_argument(
        "--grow-noise",
        type=float,
        help="relative noise on new units' incoming weights, to break symmetry (default: 0)",
    )


def add_backbone_flags(p: argparse.ArgumentParser, widths_help: str) -> None:
    p.add_argument("--backbone", default="small", choices=BACKBONES, help="encoder network")
    p.add_argument(
        "--widths", type=ints_type, help=f"stage widths of the small backbone ({widths_help})"
    )
    p.add_argument("--pretrained", help="local torchvision state-dict file for the backbone")


def add_multitask_flags(p: argparse.ArgumentParser, second: str, default: float) -> None:
    p.add_argument(
        "--loss-weight",
        type=float,
        default=default,
        help=f"lambda of the second loss ({second}) with --loss-weighting fixed",
    )
    p.add_argument(
        "--loss-weighting",
        choices=WEIGHTINGS,
        default="fixed",
        help="fixed lambda, learned homoscedastic uncertainty (Kendall et al. 2018; the total "
        "loss may go negative) or GradNorm (Chen et al. 2018)",
    )
    p.add_argument("--gradnorm-alpha", type=float, default=1.5, help="GradNorm's asymmetry")


def add_regression_flag(p: argparse.ArgumentParser, name: str, what: str) -> None:
    p.add_argument(f"--{name}", choices=REGRESSION_LOSSES, default="smooth_l1", help=what)


def auto_widths(size: tuple[int, int], first: int = 16, final: int = 4) -> list[int]:
    """Stage widths ``first, 2 first, ...`` with as many stages as halve the shorter side down
    to about ``final`` pixels: the pooled neck then reads a map near its own ``4 x 4`` grid
    (the measured recipe: 4 stages at 64 px, 5 at 128 px)."""
    side, n = min(size), 0
    while side // 2 >= final and n < 6:
        side //= 2
        n += 1
    return [first * 2**i for i in range(max(n, 1))]


# --------------------------------------------------------------------------- config and data


def train_config(args, defaults: dict) -> TrainConfig:
    """Flags over ``--config`` over the task's recipe ``defaults`` over :class:`TrainConfig`."""
    from regionlab.engine.config import load_config

    flags = {k: getattr(args, k) for k in BUDGET_FLAGS if getattr(args, k, None) is not None}
    for k in ("grow", "grow_mode", "grow_noise"):
        if getattr(args, k, None) is not None:
            flags[k] = getattr(args, k)
    base = dict(defaults)
    if flags.get("minutes") is not None and "epochs" not in flags:
        base["epochs"] = None  # a time budget alone replaces the epoch count
    if args.config:
        return load_config(args.config, flags, base=base)
    return TrainConfig.from_dict({**base, **flags}, source="command line")


def base_dataset(ds):
    """The reader behind ``Subset`` wrappers (held-out splits, folds, skipped samples)."""
    from torch.utils.data import Subset

    while isinstance(ds, Subset):
        ds = ds.dataset
    return ds


def classes_of(ds) -> list[str]:
    return list(base_dataset(ds).classes)


def default_size(args, train_set, photos: tuple[int, int]) -> tuple[int, int]:
    """``--size``, else the scenes' own size, else a CPU-friendly size for photos."""
    if getattr(args, "size", None):
        return args.size
    scene_cfg = getattr(base_dataset(train_set), "config", None)
    return (scene_cfg.size,) * 2 if scene_cfg else photos


def split(train_set, args):
    """Validation set: ``--val SPEC``, the scene generator's own val stream, or a held-out
    fraction (reported, so no sample silently changes role)."""
    import torch

    from regionlab.cli.specs import open_dataset

    if args.val:
        return train_set, open_dataset(args.val, split="val")
    if parse_spec(args.data)[0] == "scenes":
        return train_set, open_dataset(args.data, split="val")
    n = len(train_set)
    k = max(1, int(round(n * args.val_fraction)))
    if k >= n:
        raise ValueError(f"--val-fraction {args.val_fraction} leaves no training samples of {n}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(args.seed or 0)).tolist()
    say(f"no --val given: holding out {k} of {n} samples ({args.val_fraction:.0%}) for validation")
    return (
        torch.utils.data.Subset(train_set, order[k:]),
        torch.utils.data.Subset(train_set, order[:k]),
    )


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
