"""The training configuration: one small typed dataclass, from flags or a JSON/TOML file.

Unknown keys are an error (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path


@dataclass
class TrainConfig:
    """How to train (not what: the model is the task's ``spec``).

    Length: ``epochs`` and/or ``minutes`` (a wall-clock budget of training time; the LR schedule
    is stretched over it). With both, training stops at whichever comes first.
    """

    epochs: int | None = 10
    minutes: float | None = None
    batch_size: int = 8
    eval_batch_size: int = 8
    optimizer: str = "adamw"  # adamw | sgd
    lr: float = 2e-3
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str = "cosine"  # cosine | constant
    warmup: float = 0.03  # fraction of training spent warming up linearly
    grad_clip: float | None = 5.0
    eval_every: int = 1  # epochs
    checkpoint_every: int = 0  # steps (0: at the end of each epoch only)
    seed: int = 0
    num_workers: int = 0
    cache_mb: float = 3072  # decoded training samples kept in memory (validation: a quarter)
    threads: int | None = None  # torch intra-op threads; None: all cores
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    grow: str = ""  # growth schedule, e.g. "epoch=3:wider(encoder.stages.1,2x)" (regionlab.growth)
    grow_mode: str = "net2net"  # net2net (replicate units) | morphism (new units, zero outputs)
    grow_noise: float = 0.0  # relative noise on new units' incoming weights (symmetry breaking)
    channels_last: bool = True  # NHWC convolutions: about 1.4x faster on CPU (oneDNN)
    progress: bool = True

    def validate(self) -> None:
        if self.epochs is None and self.minutes is None:
            raise ValueError("give epochs or minutes (or both)")
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


def load_config(
    path: str | Path, overrides: dict | None = None, *, base: dict | None = None
) -> TrainConfig:
    """Read a JSON (``.json``) or TOML (``.toml``) file; ``overrides`` (e.g. from flags) win over
    the file, and the file over ``base`` (e.g. a task's recipe)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ValueError(f"{path}: cannot read config ({e.strerror})") from e
    try:
        if path.suffix == ".toml":
            import tomllib  # Python >= 3.11

            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except ModuleNotFoundError as e:
        raise ValueError(f"{path}: TOML needs Python >= 3.11; use a .json config") from e
    except ValueError as e:  # JSONDecodeError and TOMLDecodeError are ValueErrors
        raise ValueError(f"{path}: malformed config: {e}") from e
    if not isinstance(data, dict):
        raise ValueError(f"{path}: config must be a table/object of keys")
    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(
            f"{path}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(known))}"
        )
    merged = {**(base or {}), **data, **(overrides or {})}
    if "minutes" in data and "epochs" not in data and "epochs" not in (overrides or {}):
        merged["epochs"] = data.get("epochs")  # the file's time budget alone replaces epochs
    return TrainConfig.from_dict(merged, source=str(path))
