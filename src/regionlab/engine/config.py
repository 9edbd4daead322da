"""The training configuration: one small typed dataclass, from flags or a JSON/TOML/YAML file.

Unknown keys are an error (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

PRECISIONS = ("auto", "fp32", "bf16")  # the training step's arithmetic (engine/precision.py)


@dataclass
class TrainConfig:
    """How to train (not what: the model is the task's ``spec``).

    Length, in steps fixed before or early in the run (:mod:`regionlab.engine.budget`): ``steps``
    (exactly that many; ``epochs`` and ``minutes`` are then not used), else ``epochs`` and/or
    ``minutes`` (a wall-clock budget of training time: the speed measured from 20% to 30% of
    it fixes the count the budget holds; with both, the smaller count).
    """

    epochs: int | None = 10
    minutes: float | None = None
    steps: int | None = None
    batch_size: int = 8
    eval_batch_size: int = 8
    optimizer: str = "adamw"  # adamw | sgd
    lr: float = 2e-3
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str = "cosine"  # cosine | constant
    warmup: float = 0.03  # fraction of training spent warming up linearly
    grad_clip: float | None = 5.0
    # epochs between evaluations; None: at the first epoch end after each further
    # 1/EVALS_PER_RUN of the run (engine/cadence.py), so a 12-image set, 3 steps an
    # epoch, is not scored (and saved) after every epoch
    eval_every: int | None = None
    checkpoint_every: int = 0  # steps (0: where the run evaluates, and at its end, only)
    # Also write last.pt mid-epoch once this many minutes of the run have passed since the
    # last write (0: off), so a SIGKILL on a large set loses bounded work, not an epoch.
    checkpoint_minutes: float = 10.0
    seed: int = 0
    num_workers: int = 0
    cache_mb: float = 3072  # decoded training samples kept in memory (validation: a quarter)
    threads: int | None = None  # torch intra-op threads; None: all cores
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    grow: str = ""  # growth schedule, e.g. "epoch=3:wider(encoder.stages.1,2x)" (regionlab.growth)
    grow_mode: str = "net2net"  # net2net (replicate units) | morphism (new units, zero outputs)
    grow_noise: float = 0.0  # relative noise on new units' incoming weights (symmetry breaking)
    # torchrun: BatchNorm over the global batch (regionlab.engine.syncbn); None: on CUDA only
    sync_bn: bool | None = None
    channels_last: bool = True  # NHWC convolutions: about 1.4x faster on CPU (oneDNN)
    precision: str = "auto"  # auto | fp32 | bf16: the training step's arithmetic (.precision)
    progress: bool = True
    tensorboard: bool = False  # event files in OUT/tensorboard/ (the tensorboard extra)

    def validate(self) -> None:
        if self.epochs is None and self.minutes is None and self.steps is None:
            raise ValueError("give epochs or minutes (or both), or steps")
        if self.steps is not None and (isinstance(self.steps, bool) or self.steps < 1):
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.minutes is not None and self.minutes <= 0:
            raise ValueError(f"minutes must be > 0, got {self.minutes}")
        if self.optimizer not in ("adamw", "sgd"):
            raise ValueError(f"optimizer must be adamw or sgd, got {self.optimizer!r}")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be cosine or constant, got {self.schedule!r}")
        if self.batch_size < 1 or self.eval_batch_size < 1:
            raise ValueError("batch sizes must be >= 1")
        if self.grow:
            from regionlab.growth import parse_schedule

            parse_schedule(self.grow)  # a typo fails now, not at epoch N
        if self.grow_mode not in ("net2net", "morphism"):
            raise ValueError(f"grow_mode must be net2net or morphism, got {self.grow_mode!r}")
        if self.eval_every is not None and (
            isinstance(self.eval_every, bool) or self.eval_every < 1
        ):
            raise ValueError(
                f"eval_every must be >= 1 epoch (or unset: spread), got {self.eval_every}"
            )
        if self.checkpoint_every < 0 or self.checkpoint_minutes < 0:
            raise ValueError("checkpoint_every and checkpoint_minutes must be >= 0 (0: off)")
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"
            )
        if not 0 <= self.warmup < 1:
            raise ValueError(f"warmup is a fraction in [0, 1), got {self.warmup}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, *, source: str = "config") -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"{source}: unknown key(s) {', '.join(unknown)}; "
                f"known keys: {', '.join(sorted(known))}"
            )
        cfg = cls(**data)
        cfg.validate()
        return cfg


FORMATS = "JSON (.json), TOML (.toml) or YAML (.yaml, .yml)"
_KINDS = {".json": "JSON", ".toml": "TOML", ".yaml": "YAML", ".yml": "YAML"}


def load_config(
    path: str | Path, overrides: dict | None = None, *, base: dict | None = None
) -> TrainConfig:
    """Read a JSON (``.json``), TOML (``.toml``) or YAML (``.yaml``/``.yml``) file of
    :class:`TrainConfig` keys; ``overrides`` (e.g. from flags) win over the file, and the file
    over ``base`` (e.g. a task's recipe). Errors name the file and the formats read."""
    path = Path(path)
    data = read_config_file(path)
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(
            f"{path}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(known))}"
        )
    merged = {**(base or {}), **data, **(overrides or {})}
    flags = overrides or {}
    if "steps" in data and "epochs" in data:
        raise ValueError(f"{path}: give steps or epochs, not both")
    if "epochs" in flags and "steps" not in flags:
        merged["steps"] = None  # a length the flags give wins over the file's
    if merged.get("steps") is not None or ("minutes" in data and "epochs" not in {**data, **flags}):
        merged["epochs"] = None  # a step count, or the file's time budget alone, replaces epochs
    return TrainConfig.from_dict(merged, source=str(path))


def read_config_file(path: Path) -> dict:
    """The file's table of keys, parsed by its extension (see :data:`FORMATS`)."""
    kind = _KINDS.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"{path}: unknown config format {path.suffix!r}; reads {FORMATS}")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ValueError(f"{path}: cannot read config ({e.strerror})") from e
    try:
        data = _parse(kind, text)
    except ImportError as e:
        need = "Python >= 3.11" if kind == "TOML" else "PyYAML (pip install pyyaml)"
        raise ValueError(f"{path}: {kind} configs need {need}; {FORMATS} are read") from e
    except Exception as e:  # noqa: BLE001 - each parser has its own error class
        hint = _other_format_hint(kind, text)
        raise ValueError(
            f"{path}: malformed {kind} config{hint} ({FORMATS} are read): {e}"
        ) from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: config must be a table/object of keys")
    return _yaml_floats(data) if kind == "YAML" else data


def _parse(kind: str, text: str):
    if kind == "JSON":
        return json.loads(text)
    if kind == "TOML":
        import tomllib  # Python >= 3.11

        return tomllib.loads(text)
    import yaml

    return yaml.safe_load(text)


def _other_format_hint(kind: str, text: str) -> str:
    """A file that another reader accepts was most likely just named wrongly."""
    for other in ("YAML", "JSON", "TOML"):
        if other == kind:
            continue
        try:
            if text.strip() and isinstance(_parse(other, text), dict):
                return f" (it reads as {other}: give it a {other.lower()} extension)"
        except Exception:  # noqa: BLE001 - not that format either
            continue
    return ""


def _yaml_floats(data: dict) -> dict:
    # YAML 1.1 reads 1e-3 (no dot) as a string; a float key means the number.
    floats = {f.name for f in fields(TrainConfig) if "float" in str(f.type)}
    out = dict(data)
    for k, v in data.items():
        if k in floats and isinstance(v, str):
            try:
                out[k] = float(v)
            except ValueError:
                pass  # left as it is: TrainConfig reports it
    return out
