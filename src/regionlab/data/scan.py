"""A full pass over a dataset that decodes every sample, so bad files surface before training.

Readers check annotations and image headers when they are built and decode pixels lazily; a
truncated or corrupt image would otherwise stop a run at the step that first reads it. ``scan``
reads every sample once (and runs an optional per-sample ``check``, e.g. a task's requirement
that each image has an object) and reports every problem at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from torch.utils.data import Subset

from regionlab.data.errors import DataError
from regionlab.data.sample import Sample


@dataclass
class ScanReport:
    """``checked`` samples read; ``problems[i]`` is why sample ``bad[i]`` is unusable."""

    checked: int
    bad: list[int] = field(default_factory=list)
    problems: list[DataError] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


def scan(
    dataset,
    check: Callable[[Sample], None] | None = None,
    progress: Callable[[int, int, int], None] | None = None,
) -> ScanReport:
    """Read ``dataset[i]`` for every ``i`` (and ``check(sample)``), collecting each
    :class:`DataError` with the index of its sample. Other exceptions propagate.

    Memory stays bounded whatever the size: each sample is dropped once read, and only the
    problems are kept. ``progress(done, total, bad)`` is called after every sample (the caller
    decides how often to show it)."""
    t0 = time.perf_counter()
    report = ScanReport(len(dataset))
    for i in range(len(dataset)):
        try:
            sample = dataset[i]
            if check is not None:
                check(sample)
        except DataError as e:
            report.bad.append(i)
            report.problems.append(e)
        sample = None
        if progress is not None:
            progress(i + 1, report.checked, len(report.bad))
    report.seconds = time.perf_counter() - t0
    return report


def without(dataset, bad: list[int]):
    """``dataset`` minus the samples at indices ``bad`` (the dataset itself if none)."""
    if not bad:
        return dataset
    drop = set(bad)
    return Subset(dataset, [i for i in range(len(dataset)) if i not in drop])
