"""Where a result comes from: regionlab's version and source commit (and whether the tree had
uncommitted changes), the exact command, the versions of what computed it, and the machine.

One record for every result file: a run's ``run.json`` (:mod:`regionlab.engine.records`), a
comparison's ``compare.json`` (:mod:`regionlab.comparison`) and the benchmarks' JSON
(``benchmarks/_common.save``). Stdlib only at import; torch is imported, when asked for, by the
functions that report it.
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

# the regionlab package folder: its own git checkout is the one reported
PACKAGE = Path(__file__).resolve().parent


def command_line(argv: list[str]) -> str:
    """``argv`` as a shell command line; a ``python -m PACKAGE`` run as such (Python puts
    the path of the package's ``__main__.py`` in ``argv[0]``)."""
    argv = list(argv)
    if argv and Path(argv[0]).name == "__main__.py":
        argv[:1] = ["python", "-m", Path(argv[0]).parent.name]
    return shlex.join(argv)


def source_commit(where: Path = PACKAGE) -> dict | None:
    """``{"commit": SHA, "dirty": bool}`` of the git checkout holding ``where`` (regionlab's
    own source by default; ``dirty``: tracked files with uncommitted changes), or ``None`` when
    it is not a git checkout (an installed wheel) or git is missing."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", "-C", str(where), *args], capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    # The package tracked, else a wheel installed inside some other repository would report
    # that repository's commit.
    if where == PACKAGE and git("ls-files", "--error-unmatch", "__init__.py") is None:
        return None
    commit = git("rev-parse", "HEAD")
    if not commit:
        return None
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def versions() -> dict[str, str | None]:
    """Python's, regionlab's, torch's and torchvision's versions (torch: the build imported,
    e.g. ``2.4.0+cpu``)."""
    import torch

    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("regionlab", "torch", "torchvision"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    out["torch"] = torch.__version__
    return out


def machine() -> dict:
    """The computer: CPU name, logical cores, operating system."""
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "system": f"{platform.system()} {platform.release()}",
    }


def provenance(argv: list[str] | None = None, **extra) -> dict:
    """The record every result file carries::

        {"regionlab": "0.1.0", "commit": SHA | None, "dirty": bool | None,
         "command": "regionlab compare ...", "torch": ..., "torchvision": ..., "python": ...,
         "machine": {"cpu": ..., "cores": ..., "system": ...}, **extra}

    ``argv``: the command (default ``sys.argv``); ``extra``: what only the caller knows (e.g.
    ``threads``, ``parallel``)."""
    from regionlab import __version__

    git = source_commit() or {}
    v = versions()
    return {
        "regionlab": __version__,
        "commit": git.get("commit"),
        "dirty": git.get("dirty"),
        "command": command_line(sys.argv if argv is None else argv),
        "torch": v["torch"],
        "torchvision": v["torchvision"],
        "python": v["python"],
        "machine": machine(),
        **extra,
    }
