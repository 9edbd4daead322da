"""A run states which split trained it, which chose its best.pt and which its final numbers are
on (run.json and metrics.json ``splits``)."""

from __future__ import annotations

from argparse import Namespace

from regionlab.api.prepare import describe_split


def _args(**kw) -> Namespace:
    return Namespace(**{"data": "voc:DIR", "val": None, "val_fraction": 0.1, "seed": 2, **kw})


def test_a_held_out_fraction_is_named_with_its_size_and_seed():
    s = describe_split(_args(), range(90), range(10))
    assert s["train"] == "--data voc:DIR (90 samples)"
    assert s["selection"] == s["final"]
    assert "10 of 100 samples of --data held out (--val-fraction 0.1, seed 2)" == s["selection"]
    assert "optimistic" in s["note"]


def test_val_and_the_scenes_own_stream_are_named():
    assert (
        describe_split(_args(val="voc:V"), range(5), range(3))["final"] == "--val voc:V (3 samples)"
    )
    s = describe_split(_args(data="scenes:n=20"), range(20), range(4))
    assert s["selection"] == "the val split of scenes:n=20 (4 samples)"
