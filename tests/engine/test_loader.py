"""The sample cache, the augmentation context of the deterministic loader, and the training
loader whose workers persist across epochs."""

import os

import pytest
import torch

from regionlab.data.sample import Sample
from regionlab.engine.loader import Augmented, EpochLoader, SampleCache, epoch_batches


class Counting(torch.utils.data.Dataset):
    classes = ["background", "thing"]

    def __init__(self, n: int, side: int = 8) -> None:
        self.n, self.side, self.reads = n, side, 0

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> Sample:
        self.reads += 1
        image = torch.full((3, self.side, self.side), i, dtype=torch.uint8)
        return Sample(image=image, boxes=torch.tensor([[0.0, 0, 4, 4]]), labels=torch.tensor([1]))


def test_cache_decodes_each_sample_once_and_hands_out_copies():
    ds = Counting(3)
    cache = SampleCache(ds, max_mb=1)
    a = cache[1]
    a.boxes = torch.zeros(0, 4)  # a transform rebinding a field must not change the cache
    b = cache[1]
    assert ds.reads == 1 and b.boxes.shape == (1, 4) and int(b.image[0, 0, 0]) == 1
    assert cache.classes == ds.classes and len(cache) == 3


def test_cache_stops_at_its_budget_and_zero_disables_it():
    ds = Counting(4, side=64)  # 12 KiB of image per sample
    cache = SampleCache(ds, max_mb=25 / 1024)  # room for two
    for _ in range(2):
        for i in range(4):
            cache[i]
    assert ds.reads == 6 and len(cache._items) == 2
    off = SampleCache(Counting(2), max_mb=0)
    off[0], off[0]
    assert off.dataset.reads == 2


def test_augmented_items_are_the_same_with_and_without_the_cache():
    def jitter(sample, gen):
        return sample.image.float() + torch.rand(sample.image.shape, generator=gen)

    plain = Augmented(Counting(3), jitter, seed=5)
    cached = Augmented(SampleCache(Counting(3), 1), jitter, seed=5)
    for i in range(3):
        assert torch.equal(plain[i], cached[i]) and torch.equal(cached[i], cached[i])


class Serial(Counting):
    """Counting, with this copy's read count so far in the image's second channel."""

    def __getitem__(self, i: int) -> Sample:
        sample = super().__getitem__(i)
        sample.image[1] = self.reads % 256
        return sample


class Seen:
    """A transform reporting what it was given: the sample's first pixel, epoch, progress, the
    first pixel of a drawn sample, the process and how many reads its dataset copy made."""

    wants_context = True

    def __call__(self, sample, gen, ctx):
        drawn = int(ctx.draw().image[0, 0, 0])
        read = int(sample.image[1, 0, 0])  # Serial's read count when it made this sample
        return (int(sample.image[0, 0, 0]), ctx.epoch, ctx.progress, drawn, os.getpid(), read)


def _passes(workers: int, epochs: int = 3, cache_mb: float = 0) -> list:
    data = Augmented(SampleCache(Serial(6), cache_mb), Seen(), seed=3)
    loader = EpochLoader(data, lambda items: items, workers)
    out = []
    try:
        for e in range(epochs):
            batches = epoch_batches(6, 2, seed=3, epoch=e)
            out.append([item for batch in loader.epoch(batches, e, e / epochs) for item in batch])
    finally:
        loader.close()
    return out


def test_persistent_workers_augment_with_each_epochs_epoch_and_progress():
    """Workers live across epochs, yet each epoch's items (epoch, progress, the samples a
    mosaic draws) are exactly those of the main process: they come with every index."""
    alone, workers = _passes(0), _passes(2)
    strip = [[item[:4] for item in epoch] for epoch in workers]
    assert strip == [[item[:4] for item in epoch] for epoch in alone]
    assert [{item[1:3] for item in epoch} for epoch in workers] == [{(0, 0.0)}, {(1, 1 / 3)},
                                                                    {(2, 2 / 3)}]  # fmt: skip
    pids = {item[4] for epoch in workers for item in epoch}
    assert len(pids) == 2 and os.getpid() not in pids  # two workers, started once


def test_resuming_mid_epoch_hands_out_the_rest_of_it():
    data = Augmented(Serial(6), Seen(), seed=3)
    loader = EpochLoader(data, lambda items: items, 0)
    batches = epoch_batches(6, 2, seed=3, epoch=4)
    whole = [item[:4] for b in loader.epoch(batches, 4, 0.5) for item in b]
    rest = [item[:4] for b in loader.epoch(batches[1:], 4, 0.5) for item in b]
    assert rest == whole[2:]
    loader.close()
    with pytest.raises(RuntimeError, match="closed"):
        loader.epoch(batches, 5, 0.6)


def test_each_persistent_worker_keeps_its_cache_across_epochs():
    seen: dict[tuple[int, int], set[int]] = {}
    for epoch in _passes(2, epochs=4, cache_mb=1):
        for index, *_, pid, read in epoch:
            seen.setdefault((pid, index), set()).add(read)
    assert all(len(reads) == 1 for reads in seen.values())  # decoded once per worker
    uncached: dict[tuple[int, int], set[int]] = {}
    for epoch in _passes(2, epochs=4, cache_mb=0):
        for index, *_, pid, read in epoch:
            uncached.setdefault((pid, index), set()).add(read)
    assert any(len(reads) > 1 for reads in uncached.values())
