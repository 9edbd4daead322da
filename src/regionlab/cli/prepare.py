"""What ``train`` and ``tune`` prepare before a run (training config, validation split, data
check): the code lives in :mod:`regionlab.api.prepare`, shared with ``regionlab.train``; this
module names it for the CLI modules."""

from __future__ import annotations

from regionlab.api.prepare import (
    check_data,
    classes_of,
    default_size,
    split,
    train_config,
)

__all__ = ["check_data", "classes_of", "default_size", "split", "train_config"]
