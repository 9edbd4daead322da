"""Data specs for the command line's ``--data`` / ``--val``: the table of readers lives in
:mod:`regionlab.api.specs` (``regionlab.train`` opens the same specs); this module names it for
the CLI modules."""

from __future__ import annotations

from regionlab.api.specs import (
    READERS,
    USAGE,
    Reader,
    SpecError,
    has_own_val,
    open_dataset,
    parse_spec,
)

__all__ = ["READERS", "USAGE", "Reader", "SpecError", "has_own_val", "open_dataset", "parse_spec"]
