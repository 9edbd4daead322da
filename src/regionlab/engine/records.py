"""``run.json``: what started a run, written before its first step.

One JSON object per run folder::

    {"format": 1,
     "task": "segment", "classes": [...], "spec": {...},     # the task (Task protocol values)
     "config": {...},                                        # the resolved TrainConfig
     "command": "regionlab train segment --data ...",        # sys.argv, unless the caller gives it
     ...                                                     # the caller's values, e.g. "flags"
     "started": "2026-01-01T12:00:00+00:00", "at_step": 0,
     "samples": {"train": 800, "val": 100},
     "versions": {"regionlab": ..., "torch": ..., "torchvision": ..., "python": ...},
     "git": {"commit": "...", "dirty": false} | null,       # regionlab's source, when in git
     "runtime": {"device": "cpu", "world": 1, "threads": 8, "interop_threads": 8},
     "model": {"parameters": ..., "trainable": ..., "flops_per_image": ..., "input": [3, H, W],
               "gflops_per_image": ...},                     # FLOPs once the first step ran
     "resumes": [{...}, ...]}

A resumed run keeps the original record and appends its own (the same keys from ``task`` to
``model``, ``at_step`` the step it resumed at) to ``resumes``: the folder's history is never
overwritten. Only rank 0 writes; every write is atomic.

The engine knows no task: what only the caller knows (the command line's flags, the data specs)
comes in as a plain dict whose entries are stored as they are, at the top level. Paths and
tuples become strings and lists; callables (an argparse ``func``) are left out.
"""

from __future__ import annotations

import datetime
import json
import platform
import sys
from dataclasses import asdict, is_dataclass
from pathlib import Path

import torch

from regionlab.atomic import write_text_atomic

# one provenance record for run.json, compare.json and the benchmarks' results
from regionlab.provenance import command_line, source_commit, versions

__all__ = ["RunRecord", "command_line", "read_record", "session", "source_commit", "versions"]

FORMAT = 1
NAME = "run.json"
# Keys the engine writes; a caller's record may not use them (it would hide what ran).
ENGINE_KEYS = frozenset(
    {
        "format",
        "task",
        "spec",
        "config",
        "started",
        "at_step",
        "samples",
        "versions",
        "git",
        "runtime",
        "model",
        "resumes",
        "schedule",
    }
)


class RunRecord:
    """The ``run.json`` of one run folder, as this process writes it (rank 0 only).

    :meth:`start` writes this session (a new run, or a resume appended to ``resumes``);
    :meth:`update` adds to this session's entry (e.g. the model summary after the first step).
    """

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / NAME
        self.data: dict = {}
        self.session: dict = {}
        self._top = True  # this session's values are also the record's top level

    def exists(self) -> bool:
        return self.path.exists()

    def start(self, session: dict, *, resume: bool) -> None:
        if resume and self.path.exists():
            self.data = read_record(self.path)
            self.data.setdefault("resumes", []).append(session)
            self._top = False
        else:
            # A fresh run, or a resume of a folder from before run records: this session is
            # all that is known of how the run started.
            self.data = {"format": FORMAT, **session, "resumes": [session] if resume else []}
            self._top = True
        self.session = session
        self._write()

    def update(self, **values) -> None:
        if not self.data:  # not started: another rank, or a Run driven without fit()
            return
        values = _plain(values)
        self.session.update(values)
        if self._top:
            self.data.update(values)
        self._write()

    def _write(self) -> None:
        write_text_atomic(self.path, json.dumps(self.data, indent=2) + "\n")


def read_record(path: Path) -> dict:
    """A ``run.json`` as a dict; a clear error naming the file if it is not one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(
            f"{path}: unreadable run record ({e}); move it away to resume this run"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("resumes", []), list):
        raise ValueError(f"{path}: not a run record; move it away to resume this run")
    return data


def check_caller_record(record: dict | None) -> dict:
    """The caller's values, JSON-ready; an error when one would hide an engine key."""
    if record is not None and not isinstance(record, dict):
        raise ValueError(f"run record must be a dict, got {type(record).__name__}")
    caller = _plain(dict(record or {}))
    clash = sorted(set(caller) & ENGINE_KEYS)
    if clash:
        raise ValueError(
            f"run record: key(s) {', '.join(clash)} are written by the engine; "
            "give the caller's values other names (e.g. 'flags', 'data')"
        )
    return caller


def session(
    task, cfg, rt, *, record: dict | None, at_step: int, samples: dict[str, int | None]
) -> dict:
    """This process's start of a run: the task's protocol values, the resolved config, the
    caller's ``record``, versions, source commit, threads and device."""
    caller = check_caller_record(record)
    return {
        "task": task.name,
        "classes": list(getattr(task, "classes", []) or []),
        "spec": _plain(task.spec_dict()),
        "config": cfg.to_dict(),
        "command": command_line(sys.argv),
        **caller,
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "at_step": at_step,
        "samples": samples,
        "versions": versions(),
        "git": source_commit(),
        "runtime": runtime_info(rt),
    }


def runtime_info(rt) -> dict:
    """Where this run computes: device (and its name), processes, threads."""
    if rt.device.type == "cuda":
        name = torch.cuda.get_device_name(rt.device)
    else:
        name = platform.processor() or platform.machine()
    return {
        "device": str(rt.device),
        "device_name": name,
        "world": rt.world,
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
    }


def _plain(value):
    """JSON-ready: dicts, lists, strings, numbers, booleans, None; callables left out."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if not callable(v)}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)  # Path, torch.device, enums, ...
