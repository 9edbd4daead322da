"""What several task builders share: stage widths for an input size, the options the user
gave, the caption vocabulary. No torch at import (the command line's ``--help`` imports the
builders)."""

from __future__ import annotations

from regionlab.api.prepare import say


def auto_widths(size: tuple[int, int], first: int = 16, final: int = 4) -> list[int]:
    """Stage widths ``first, 2 first, ...`` with as many stages as halve the shorter side down
    to about ``final`` pixels: the pooled neck then reads a map near its own ``4 x 4`` grid
    (the measured recipe: 4 stages at 64 px, 5 at 128 px)."""
    side, n = min(size), 0
    while side // 2 >= final and n < 6:
        side //= 2
        n += 1
    return [first * 2**i for i in range(max(n, 1))]


def given(**values) -> dict:
    """The values the user gave: those not ``None`` (``0``, ``0.0`` and ``[]`` are given)."""
    return {k: v for k, v in values.items() if v is not None}


def build_vocabulary(train_set, args):
    """The caption vocabulary of ``train_set`` (words rarer than ``min_count`` become UNK)."""
    from regionlab.data.captions import Vocabulary

    captions = [c for i in range(len(train_set)) for c in train_set[i].captions]
    vocab = Vocabulary.build(captions, args.min_count, source=args.data)
    say(f"vocabulary: {len(vocab)} tokens from {len(captions)} captions")
    return vocab
