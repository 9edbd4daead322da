"""The one error every growth operation raises when it cannot keep the function unchanged."""

from __future__ import annotations


class GrowthError(ValueError):
    """A growth request that cannot be carried out (unsupported layer, bad width, ...).

    Messages name the module by its dotted name and type, so the caller can fix the schedule.
    """
