"""A mask setting moves from the paper's value (the box score; the 0.5 threshold) only when the
tune splits' run-by-run mask AP gain of the best other value is larger than its spread."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from mask_score import choose  # noqa: E402


def _runs(*pairs: tuple[float, float]) -> list[dict]:
    return [{"box": {"mask_AP": b}, "maskness": {"mask_AP": m}} for b, m in pairs]


def test_a_steady_gain_chooses_maskness():
    chosen, gain, sd = choose(_runs((0.40, 0.41), (0.42, 0.435), (0.45, 0.46)))
    assert chosen == "maskness"
    assert gain == pytest.approx(0.035 / 3)
    assert sd == pytest.approx(0.0028867513, abs=1e-9)


def test_a_gain_within_noise_keeps_the_box_score():
    assert choose(_runs((0.40, 0.45), (0.42, 0.40)))[0] == "box"  # +0.05 and -0.02


def test_no_gain_keeps_the_box_score():
    assert choose(_runs((0.40, 0.40), (0.42, 0.42)))[0] == "box"


def test_the_threshold_with_the_largest_steady_gain_is_chosen():
    def runs(*gains):
        return [{"0.5": {"mask_AP": 0.4}, "0.3": {"mask_AP": 0.4 + a}, "0.4": {"mask_AP": 0.4 + b},
                 "0.6": {"mask_AP": 0.4 + c}} for a, b, c in gains]  # fmt: skip

    chosen, gain, _ = choose(runs((0.02, 0.01, -0.01), (0.015, 0.012, -0.02)), "threshold")
    assert chosen == "0.3" and gain == pytest.approx(0.0175)
    assert choose(runs((0.05, 0.0, 0.0), (-0.03, 0.0, 0.0)), "threshold")[0] == "0.5"
