"""``scan``: every sample decoded once, problems collected, progress reported, nothing kept."""

from __future__ import annotations

import gc
import weakref

import torch

from regionlab.data.errors import DataError
from regionlab.data.sample import Dataset, Sample
from regionlab.data.scan import scan


class _Made(Dataset):
    """``n`` generated samples; sample 3 is bad; every sample made is watched by a weakref."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.made: list[weakref.ref] = []

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> Sample:
        if i == 3:
            raise DataError(f"img{i}.png", "cannot decode image")
        s = Sample(image=torch.zeros((3, 8, 8), dtype=torch.uint8), image_id=i)
        self.made.append(weakref.ref(s))
        return s


def test_scan_reports_progress_and_keeps_no_sample() -> None:
    ds = _Made(6)
    calls = []

    def progress(done: int, total: int, bad: int) -> None:
        gc.collect()
        alive = sum(r() is not None for r in ds.made)
        calls.append((done, total, bad, alive))

    report = scan(ds, progress=progress)
    assert report.bad == [3] and report.checked == 6
    assert [c[:3] for c in calls] == [(1, 6, 0), (2, 6, 0), (3, 6, 0), (4, 6, 1), (5, 6, 1),
                                      (6, 6, 1)]  # fmt: skip
    assert all(c[3] == 0 for c in calls)  # each sample is dropped before the next is read
