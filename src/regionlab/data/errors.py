"""Errors raised for bad input. Every message names the file (and entry or line) and the problem."""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """A dataset file is missing, unreadable or inconsistent.

    Attributes:
        path: the file at fault.
        where: the entry, line or key inside the file ("" when the whole file is at fault).
        problem: what is wrong, in words.
    """

    def __init__(self, path: str | Path, problem: str, where: str = "") -> None:
        self.path = str(path)
        self.where = where
        self.problem = problem
        loc = f"{self.path} ({where})" if where else self.path
        super().__init__(f"{loc}: {problem}")


class SkipReport:
    """Collects samples skipped under an explicit ``skip_bad=True`` so none is dropped silently."""

    def __init__(self) -> None:
        self.errors: list[DataError] = []

    def add(self, err: DataError) -> None:
        self.errors.append(err)

    @property
    def count(self) -> int:
        return len(self.errors)

    def summary(self) -> str:
        lines = [f"skipped {self.count} bad sample(s):"]
        lines += [f"  - {e}" for e in self.errors]
        return "\n".join(lines)


class DataProblems(ValueError):
    """Several samples are unusable; ``errors`` lists every one (found in one pass)."""

    def __init__(self, errors: list[DataError], total: int, hint: str = "") -> None:
        self.errors = list(errors)
        lines = [f"{len(self.errors)} of {total} sample(s) are unusable:"]
        lines += [f"  - {e}" for e in self.errors]
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))
