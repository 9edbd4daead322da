"""Loading torch files without running code, with errors a user can act on.

Shared by checkpoints (``engine``) and pretrained backbone weights (``models``).
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import torch


def safe_load(path: Path, what: str, error: type[Exception] = ValueError):
    """``torch.load(path, weights_only=True)`` with our own words for every failure.

    Refused files are never run: a file that carries code (a pickled class or function) is
    reported as such, without torch's advice to retry with ``weights_only=False`` (which would
    run that code) and without its warnings."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        carried = str(e).split("Unsupported global: GLOBAL ", 1)[-1].split(" ", 1)[0]
        detail = f" ({carried})" if "GLOBAL" in str(e) else ""
        raise error(
            f"{path}: not a regionlab {what}: it carries Python objects or code{detail} "
            f"that a safe load refuses to run. regionlab {what}s hold only tensors, numbers "
            "and strings. Use a file written by regionlab (or by torch.save of a plain state "
            "dict); if you trust this file and it holds a model, load it in Python yourself and "
            "save its state_dict()."
        ) from None
    except Exception as e:  # noqa: BLE001 - torn or foreign files end here
        raise error(
            f"{path}: not a readable {what} (torn, truncated or another format: {type(e).__name__})"
        ) from None
