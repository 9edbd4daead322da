"""Errors of the training engine that a user can act on (no torch import, for the CLI)."""

from __future__ import annotations


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN/inf loss; the last good checkpoint is left as it was."""
