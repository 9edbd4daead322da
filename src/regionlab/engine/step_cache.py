"""A timed run's step count, remembered per setup on this machine: the same command runs the
same steps again, so it ends with the same weights.

A ``minutes`` budget fixes its step count from the speed it measures (:mod:`.budget`), and a
process's speed varies by about 5% from one run to the next on an idle machine (measured on
CamVid, 2 threads: 0.545-0.577 s a step), enough to land on the neighbouring count of the
grid now and then; at 5 minutes on CamVid 9% more steps moved the final mIoU by 0.03-0.04.
So the first run of a setup stores the count it fixed (with where its decay started and the
step it was fixed at), and every later run of that setup trains exactly that schedule from
its first step, the clock never read: the second run of a command repeats the first.

A setup is what sets the speed: the model and task description, the training set's size,
the batch, workers, sample cache, layout, growth and optimiser, the budget, the device,
threads and processes, the CPU (and GPU) model, regionlab's commit, and the caller's command-line flags
(``record["flags"]`` of :func:`~regionlab.engine.trainer.fit`), since some of them change
the work of a step without showing in the task's description (a segmentation run's colour
jitter and scale range live in its transform, not in its saved spec). The seed and the
output folder are not part of it: the seeds of one model in a comparison train the same
number of steps. The file is
``~/.cache/regionlab/step_counts.json``, or ``$REGIONLAB_STEP_CACHE`` (``off``: never
remember); delete it (or give ``--steps N``) to choose the count again. One process only:
under torchrun every run measures (the processes must agree on what they read).
"""

from __future__ import annotations

import hashlib
import json
import os
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

VAR = "REGIONLAB_STEP_CACHE"
SPEED_FIELDS = ("minutes", "epochs", "batch_size", "num_workers", "cache_mb", "channels_last",
                "grow", "grow_mode", "optimizer", "device", "precision")  # fmt: skip
NOT_SPEED_FLAGS = ("seed", "out", "resume")  # the same setup, another seed or folder


def cache_path() -> Path | None:
    """The file, or ``None`` when remembering is off."""
    value = os.environ.get(VAR)
    if value == "off":
        return None
    return Path(value) if value else Path.home() / ".cache" / "regionlab" / "step_counts.json"


def setup_key(
    spec: dict, cfg, train_size: int, world: int, device: str, flags: dict | None = None
) -> str:
    """A short hash of everything that sets a run's speed (see the module docstring).
    ``flags``: the caller's command-line options, plain values (seed and folder left out)."""
    import torch

    from regionlab.provenance import machine, source_commit, versions

    commit = source_commit() or {}
    what = {
        "spec": spec,
        "train": train_size,
        "config": {k: v for k, v in asdict(cfg).items() if k in SPEED_FIELDS},
        "flags": {k: v for k, v in (flags or {}).items() if k not in NOT_SPEED_FLAGS},
        "world": world,
        "device": device,
        "threads": torch.get_num_threads(),
        "machine": machine(),
        "hardware": hardware(device),
        "code": [versions().get("regionlab"), commit.get("commit"), commit.get("dirty")],
    }
    text = json.dumps(what, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def hardware(device: str) -> dict:
    """The processor's model (Linux reports only ``x86_64`` as ``platform.processor()``) and,
    on a GPU, the GPU's: two machines with the same core count but other chips must not share
    a count (a shared home folder on a cluster)."""
    import torch

    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name")), "")  # fmt: skip
    except OSError:
        pass
    gpu = torch.cuda.get_device_name() if device == "cuda" and torch.cuda.is_available() else ""
    return {"cpu_model": cpu, "gpu": gpu}


class StepCache:
    """The remembered count of one setup (``key``) in the file ``path``."""

    def __init__(self, path: Path, key: str) -> None:
        self.path, self.key = path, key

    def _all(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}  # none yet, or unreadable: measure (and write a good file)
        return data if isinstance(data, dict) else {}

    def get(self) -> dict | None:
        """``{"steps", "decay_start", "fixed_at"}`` of this setup, if remembered."""
        entry = self._all().get(self.key)
        keys = ("steps", "decay_start", "fixed_at")
        ok = isinstance(entry, dict) and all(type(entry.get(k)) is int and entry[k] >= 0
                                             for k in keys)  # fmt: skip
        return {k: entry[k] for k in keys} if ok and entry["steps"] >= 1 else None

    def put(self, steps: int, decay_start: int, fixed_at: int) -> None:
        """Remember this setup's count (a failed write only loses the memory)."""
        from regionlab.atomic import WriteError, make_folder, write_text_atomic

        try:
            make_folder(self.path.parent)
            with _locked(self.path):  # two runs finishing together: neither entry lost
                data = self._all()
                data[self.key] = {"steps": steps, "decay_start": decay_start,
                                  "fixed_at": fixed_at}  # fmt: skip
                write_text_atomic(self.path, json.dumps(data, indent=1, sort_keys=True) + "\n")
        except (OSError, WriteError):
            pass


@contextmanager
def _locked(path: Path):
    """An exclusive lock on ``path.lock`` while the file is read and rewritten (POSIX
    ``flock``; elsewhere none: the write is still atomic, only a race can lose an entry)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path.with_name(path.name + ".lock"), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def for_run(
    spec: dict, cfg, train_size: int, world: int, device: str, flags: dict | None = None
) -> StepCache | None:
    """The cache of a timed one-process run's setup (``None``: nothing to remember)."""
    path = cache_path()
    if path is None or world != 1 or not cfg.minutes or cfg.steps:
        return None
    return StepCache(path, setup_key(spec, cfg, train_size, world, device, flags))
