"""Deterministic batching: the order of epoch ``e`` is a pure function of ``(seed, e)``, and
augmentation of sample ``i`` in epoch ``e`` of ``(seed, e, i)``. So a run resumed mid-epoch sees
exactly the batches an uninterrupted run would, whatever ``num_workers`` is, and each
process of a distributed run takes its own slice of the same order."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader, Dataset


@dataclass
class AugmentContext:
    """What a transform that combines samples or follows the schedule may ask for (mosaic, and
    switching it off late in training): ``draw()`` returns another sample of the dataset chosen
    with the sample's generator; ``progress`` is the fraction of training done when this epoch
    started."""

    epoch: int
    progress: float
    draw: Callable[[], object]


class SampleCache(Dataset):
    """Keeps decoded samples in memory, up to ``max_mb`` megabytes of tensors (then the rest is
    read each time): a small photo set is decoded once instead of every epoch -- on Penn-Fudan
    a PNG decode costs about 30 ms, and a 2x2 mosaic needs four per training image.

    Each access returns a shallow copy, so a transform that rebinds a field does not change the
    cached sample (transforms never modify tensors in place). Every process (DDP rank, loader
    worker) holds its own cache of what it reads."""

    def __init__(self, dataset, max_mb: float) -> None:
        self.dataset, self.budget = dataset, int(max_mb * 2**20)
        self.used = 0
        self._items: dict[int, object] = {}

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        item = self._items.get(index)
        if item is None:
            item = self.dataset[index]
            size = _nbytes(item)
            if self.used + size <= self.budget:
                self._items[index] = item
                self.used += size
        return copy.copy(item)

    def __getattr__(self, name: str):  # classes, source, ... of the dataset behind
        if name in ("dataset", "budget", "used", "_items"):
            raise AttributeError(name)
        return getattr(self.dataset, name)


def _nbytes(item) -> int:
    fields = vars(item).values() if hasattr(item, "__dict__") else [item]
    return sum(v.numel() * v.element_size() for v in fields if isinstance(v, torch.Tensor))


class Augmented(Dataset):
    """Applies ``transform(sample, generator)`` with a generator seeded per (seed, epoch, index).

    A transform with ``wants_context = True`` is called as ``transform(sample, generator,
    context)`` with an :class:`AugmentContext`; its draws come from the same generator, so
    the item stays a pure function of (seed, epoch, index, progress)."""

    def __init__(self, dataset, transform: Callable, seed: int) -> None:
        self.dataset, self.transform, self.seed = dataset, transform, seed
        self.epoch = 0
        self.progress = 0.0

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: int | tuple[int, int, float]):
        # (index, epoch, progress) from an EpochSampler; a bare index takes this object's own
        index, epoch, progress = key if isinstance(key, tuple) else (key, self.epoch, self.progress)
        gen = torch.Generator().manual_seed(hash((self.seed, epoch, index)) & 0x7FFF_FFFF_FFFF)
        if getattr(self.transform, "wants_context", False):
            n = len(self.dataset)

            def draw():
                return self.dataset[int(torch.randint(n, (), generator=gen))]

            ctx = AugmentContext(epoch, progress, draw)
            return self.transform(self.dataset[index], gen, ctx)
        return self.transform(self.dataset[index], gen)


def epoch_batches(
    n: int,
    batch_size: int,
    seed: int,
    epoch: int,
    *,
    rank: int = 0,
    world: int = 1,
    shuffle: bool = True,
    drop_last: bool = True,
) -> list[list[int]]:
    """Index lists for one epoch. With ``world > 1`` each batch of ``batch_size * world`` indices
    (the global batch) is split into ``world`` equal parts and this rank gets part ``rank``."""
    if shuffle:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        order = order.tolist()
    else:
        order = list(range(n))
    g = batch_size * world
    stop = (n // g) * g if drop_last else n
    batches = []
    for start in range(0, stop, g):
        chunk = order[start : start + g]
        part = chunk[rank::world]
        if part:
            batches.append(part)
    return batches


def make_loader(
    dataset, batches: Iterable[list], collate: Callable, num_workers: int, persistent: bool = False
) -> DataLoader:
    """A loader of ``batches`` (index lists, or an :class:`EpochSampler`); ``persistent``: its
    workers (if any) outlive one pass, for a loader iterated again and again."""
    # A private generator: otherwise creating the iterator draws from the global RNG, and a
    # resumed run would diverge from an uninterrupted one.
    return DataLoader(
        dataset,
        batch_sampler=batches,
        collate_fn=collate,
        num_workers=num_workers,
        generator=torch.Generator(),
        worker_init_fn=ignore_stop_signals if num_workers else None,
        persistent_workers=persistent and num_workers > 0,
    )


class EpochSampler:
    """The batch sampler of a run's one training loader: the current epoch's index lists, each
    index handed out as ``(index, epoch, progress)``. A loader worker lives across epochs with
    its own copy of :class:`Augmented` made when it started; with the epoch and progress in
    every key it augments as the main process says, not by that stale copy."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.epoch, self.progress = 0, 0.0

    def __iter__(self) -> Iterator[list[tuple[int, int, float]]]:
        epoch, progress = self.epoch, self.progress
        for batch in self.batches:
            yield [(i, epoch, progress) for i in batch]

    def __len__(self) -> int:
        return len(self.batches)


class EpochLoader:
    """One training loader for a whole run. With ``num_workers > 0`` its workers start once
    and persist from epoch to epoch: no process start per epoch (an epoch of a small set is a
    few steps), and each worker keeps the :class:`SampleCache` it filled. :meth:`epoch` hands
    out one epoch's batches, or the rest of one when a run resumes mid-epoch."""

    def __init__(self, dataset, collate: Callable, num_workers: int) -> None:
        self.sampler = EpochSampler()
        self.loader: DataLoader | None = make_loader(
            dataset, self.sampler, collate, num_workers, persistent=True
        )

    def epoch(self, batches: list[list[int]], epoch: int, progress: float) -> DataLoader:
        if self.loader is None:
            raise RuntimeError("the loader was closed")
        self.sampler.batches, self.sampler.epoch, self.sampler.progress = batches, epoch, progress
        return self.loader

    def close(self) -> None:
        """End the workers now; otherwise they end when the loader is collected."""
        self.loader = None


def ignore_stop_signals(worker_id: int) -> None:
    """In a loader worker: SIGTERM / SIGINT sent to the whole process group (a scheduler's
    preemption, Ctrl-C) is for the main process, which stops after its step and then ends the
    workers; a worker killed by it would end the run with a DataLoader error instead."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
