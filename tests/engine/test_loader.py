"""The sample cache and the augmentation context of the deterministic loader."""

import torch

from regionlab.data.sample import Sample
from regionlab.engine.loader import Augmented, SampleCache


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
