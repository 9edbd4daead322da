"""Balanced positive/negative sampling: counts, determinism from an explicit generator."""

import pytest
import torch

from regionlab.ops.sampler import BalancedSampler


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def matches(num_pos: int, num_neg: int, num_ignore: int, seed: int = 0) -> torch.Tensor:
    """A shuffled ``(P,)`` match vector: positives are ground-truth indices 0..4."""
    values = torch.cat(
        (
            torch.arange(num_pos) % 5,
            torch.full((num_neg,), -1),
            torch.full((num_ignore,), -2),
        )
    )
    return values[torch.randperm(values.numel(), generator=gen(seed))]


def test_counts_with_plenty_of_both():
    ms = matches(100, 300, 50)
    pos, neg = BalancedSampler(64, 0.25)(ms, gen(0))
    assert (pos.numel(), neg.numel()) == (16, 48)
    assert bool((ms[pos] >= 0).all()) and bool((ms[neg] == -1).all())
    assert pos.unique().numel() == 16 and neg.unique().numel() == 48
    assert pos.dtype == neg.dtype == torch.int64
    assert torch.equal(pos, pos.sort().values)


def test_few_positives_are_all_taken_and_negatives_fill_up():
    ms = matches(3, 300, 50)
    pos, neg = BalancedSampler(64, 0.25)(ms, gen(0))
    assert torch.equal(pos, (ms >= 0).nonzero().squeeze(1))
    assert neg.numel() == 61


def test_few_of_both_gives_a_smaller_batch():
    ms = matches(3, 10, 50)
    pos, neg = BalancedSampler(64, 0.25)(ms, gen(0))
    assert torch.equal(pos, (ms >= 0).nonzero().squeeze(1))
    assert torch.equal(neg, (ms == -1).nonzero().squeeze(1))


def test_ignores_are_never_sampled():
    ms = matches(2, 5, 1000)
    for seed in range(5):
        pos, neg = BalancedSampler(512, 0.5)(ms, gen(seed))
        assert not bool((ms[torch.cat((pos, neg))] == -2).any())
        assert pos.numel() + neg.numel() == 7


def test_no_positives_and_all_ignored():
    pos, neg = BalancedSampler(8, 0.5)(matches(0, 20, 0), gen(0))
    assert (pos.numel(), neg.numel()) == (0, 8)
    pos, neg = BalancedSampler(8, 0.5)(matches(0, 0, 20), gen(0))
    assert (pos.numel(), neg.numel()) == (0, 0)
    pos, neg = BalancedSampler(8, 0.5)(torch.zeros(0, dtype=torch.int64), gen(0))
    assert (pos.numel(), neg.numel()) == (0, 0)


def test_max_positives_is_the_floor_without_float_surprises():
    assert BalancedSampler(256, 0.5).max_positives == 128
    assert BalancedSampler(10, 0.25).max_positives == 2
    assert BalancedSampler(100, 0.29).max_positives == 29  # 100 * 0.29 = 28.999999999999996
    assert BalancedSampler(8, 0.0).max_positives == 0
    pos, neg = BalancedSampler(8, 1.0)(matches(20, 20, 0), gen(0))
    assert (pos.numel(), neg.numel()) == (8, 0)


def test_same_seed_same_sample_other_seed_other_sample():
    ms = matches(100, 300, 50)
    sampler = BalancedSampler(64, 0.25)
    a, b = sampler(ms, gen(1)), sampler(ms, gen(1))
    c = sampler(ms, gen(2))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0]) and not torch.equal(a[1], c[1])


def test_global_rng_is_untouched():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    sampler = BalancedSampler(64, 0.25)
    sampler(matches(100, 300, 50), gen(0))
    sampler.sample_batch([matches(10, 30, 5), matches(1, 2, 3)], gen(0))
    assert torch.equal(torch.get_rng_state(), state)


def test_resume_from_generator_state():
    # Saving the generator state mid-run and restoring it reproduces the rest exactly.
    sampler = BalancedSampler(16, 0.5)
    ms = matches(40, 100, 10)
    g = gen(7)
    sampler(ms, g)
    saved = g.get_state()
    expected = sampler(ms, g)
    resumed = torch.Generator()
    resumed.set_state(saved)
    got = sampler(ms, resumed)
    assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])


def test_sample_batch_is_per_image_in_order():
    sampler = BalancedSampler(16, 0.5)
    images = [matches(40, 100, 10, seed=1), matches(2, 5, 10, seed=2), matches(0, 50, 0, seed=3)]
    pos, neg = sampler.sample_batch(images, gen(5))
    g = gen(5)
    for p, n, ms in zip(pos, neg, images):
        p1, n1 = sampler(ms, g)
        assert torch.equal(p, p1) and torch.equal(n, n1)
    assert [p.numel() for p in pos] == [8, 2, 0]
    assert [n.numel() for n in neg] == [8, 5, 16]


def test_bad_arguments():
    with pytest.raises(ValueError, match="batch_size"):
        BalancedSampler(0, 0.5)
    with pytest.raises(ValueError, match="positive_fraction"):
        BalancedSampler(8, 1.5)
    with pytest.raises(ValueError, match="matches"):
        BalancedSampler(8, 0.5)(torch.zeros((2, 2), dtype=torch.int64), gen(0))
