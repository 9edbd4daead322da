"""The NMS IoU choice takes the best mean tune-split AP per model, keeping the default when
the gain is within noise (a choice moves a default only when the tune split says so)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from nms_choice import choose  # noqa: E402


def _runs(*aps: dict[float, float]) -> list[dict]:
    return [{iou: {"AP": ap} for iou, ap in run.items()} for run in aps]


def test_the_best_mean_ap_over_runs_is_chosen():
    tune = {"grid": _runs({0.5: 0.4, 0.65: 0.5, 0.7: 0.6}, {0.5: 0.4, 0.65: 0.5, 0.7: 0.62})}
    assert choose(tune, {"grid": 0.65}) == {"grid": 0.7}  # +0.11 on both runs


def test_a_gain_within_noise_keeps_the_default():
    tune = {"grid": _runs({0.65: 0.5, 0.7: 0.7}, {0.65: 0.5, 0.7: 0.4})}  # +0.2 and -0.1
    assert choose(tune, {"grid": 0.65}) == {"grid": 0.65}


def test_a_tie_keeps_the_default():
    tune = {"frcnn": _runs({0.5: 0.5, 0.6: 0.5}, {0.5: 0.6, 0.6: 0.6})}
    assert choose(tune, {"frcnn": 0.5}) == {"frcnn": 0.5}
