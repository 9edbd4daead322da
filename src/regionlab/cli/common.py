"""What several tasks' command lines share: argument types and flag groups (data, budget,
growth, backbone, multi-task); the detection family's are in ``detection_flags``.

Importing this module must not import torch (``regionlab --help`` answers in well under a
second); heavy imports happen inside the functions that need them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

# shared with the Python API (regionlab.train), which owns them
from regionlab.api.prepare import BUDGET_FLAGS as BUDGET_FLAGS
from regionlab.api.prepare import SCAN_LIMIT as SCAN_LIMIT
from regionlab.api.prepare import is_main_process as is_main_process
from regionlab.api.prepare import say as say
from regionlab.api.specs import USAGE
from regionlab.engine.config import PRECISIONS, TrainConfig
from regionlab.names import BACKBONES, REGRESSION_LOSSES, WEIGHTINGS


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
        h, w = text.lower().split("x") if "x" in text.lower() else (text, text)
        size = int(h), int(w)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be N or HxW, got {text!r}") from None
    if min(size) < 1:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return size


def side_type(text: str) -> int:
    """A square input side in pixels."""
    try:
        side = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a side in pixels, got {text!r}") from None
    if side < 1:
        raise argparse.ArgumentTypeError(f"the side must be positive, got {text!r}")
    return side


def ints_type(text: str) -> list[int]:
    """``"16,32"`` -> ``[16, 32]``; ``""`` -> ``[]`` (passed on: the model says what it needs)."""
    try:
        return [int(x) for x in text.split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from None


def floats_type(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None


def free_dir(path: Path) -> Path:
    """``path`` if unused, else ``path-1``, ``path-2``, ... (never overwrite an earlier run)."""
    if not path.exists():
        return path
    k = 1
    while path.with_name(f"{path.name}-{k}").exists():
        k += 1
    return path.with_name(f"{path.name}-{k}")


# --------------------------------------------------------------------------- flag groups


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
    p.add_argument(
        "--no-report",
        dest="report",
        action="store_false",
        help="do not write report.html at the end (`regionlab report --help`)",
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

    p.add_argument(
        "--config", help="training config file (.json, .toml, .yaml or .yml); flags override it"
    )
    add_length_flags(p, shown)
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
    add_save_flags(p, shown)
    p.add_argument(
        "--sync-bn",
        action=argparse.BooleanOptionalAction,
        default=None,  # unset: --config's value, else on CUDA only
        help="under torchrun, BatchNorm over the global batch of all processes (then 2 "
        "processes train as 1 with the same global batch); default: on CUDA, off on CPU",
    )
    p.add_argument(
        "--num-workers",
        type=int,
        help="data loading processes, started once and kept for the run" + shown("num_workers"),
    )
    p.add_argument(
        "--cache-mb",
        type=float,
        help="decoded training samples kept in memory, in MB (0: decode every time; shared "
        "equally by --num-workers; validation samples get a quarter of it without workers)"
        + shown("cache_mb"),
    )
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: one per core)")
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N" + shown("device"))
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="the training step's arithmetic: bf16 autocast (weights, optimiser and losses stay "
        "fp32) or fp32; auto: bf16 on a CPU with AMX bf16 units for the tasks measured under it"
        + shown("precision"),
    )
    p.add_argument(
        "--tensorboard",
        action="store_true",
        default=None,  # unset: --config's value, else off
        help="also write TensorBoard event files to OUT/tensorboard/: loss, lr, every "
        "validation metric (and prediction images where the task draws them); needs the "
        "tensorboard extra: pip install 'regionlab[tensorboard]'",
    )


def add_save_flags(p: argparse.ArgumentParser, shown) -> None:
    """When a run evaluates and writes ``last.pt`` (``regionlab.engine.cadence``)."""
    p.add_argument(
        "--eval-every",
        type=int,
        help="evaluate (and save last.pt) every N epochs (default: at epoch ends, about "
        "20 times a run, whatever an epoch holds)",
    )
    p.add_argument(
        "--checkpoint-every",
        type=int,
        help="also write last.pt every N steps (0: where the run evaluates)"
        + shown("checkpoint_every"),
    )
    p.add_argument(
        "--checkpoint-minutes",
        type=float,
        help="also write last.pt mid-epoch every M minutes, so a killed run loses at most that "
        "(0: off); SIGTERM / Ctrl-C always write it before stopping" + shown("checkpoint_minutes"),
    )


def add_length_flags(p: argparse.ArgumentParser, shown) -> None:
    """How long a run trains: a step count fixed once (``regionlab.engine.budget``)."""
    p.add_argument(
        "--epochs",
        type=int,
        help="passes over the training set; with --minutes, whichever ends first" + shown("epochs"),
    )
    p.add_argument(
        "--minutes",
        type=float,
        help="wall-clock training budget (evaluation excluded): the speed measured from 20%% to "
        "30%% of it fixes the step count the budget holds; the LR warms up over a count of "
        "steps, stays flat to 40%% of the count, then decays (the clock decides the count "
        "once, nothing else; the first run of a setup on this machine remembers it, so the "
        "same command repeats that run: see $REGIONLAB_STEP_CACHE). Alone, it replaces --epochs"
        + shown("minutes"),
    )
    p.add_argument(
        "--steps",
        type=int,
        help="train exactly N optimisation steps, the LR schedule over them; the clock is not "
        "read, so a run repeats on any machine (replaces --epochs and --minutes)",
    )


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
