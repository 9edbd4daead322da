"""Mean ± sd over seeds of every metric, and the within-noise rule, on hand-made numbers."""

from __future__ import annotations

import math

import pytest

from regionlab.comparison.stats import format_table, lower_is_better, mean_sd, table


def _runs(model: str, values: list[dict]) -> list[dict]:
    return [
        {"model": model, "seed": s, "status": "done", "metrics": m} for s, m in enumerate(values)
    ]


def test_mean_and_sample_sd():
    s = mean_sd([1.0, 2.0, 3.0])
    assert s["mean"] == 2.0 and s["sd"] == pytest.approx(1.0) and s["values"] == [1.0, 2.0, 3.0]
    assert mean_sd([0.5]) == {"mean": 0.5, "sd": 0.0, "n": 1, "values": [0.5]}


def test_a_metric_missing_in_some_seeds_says_how_many_numbers_it_has():
    nan = float("nan")
    runs = _runs("a", [{"AP": 0.50, "AR": 0.6}, {"AP": nan, "AR": 0.6}, {"AP": 0.70, "AR": 0.6}])
    runs += _runs("b", [{"AP": 0.10, "AR": 0.5}, {"AP": nan, "AR": 0.5}, {"AP": nan, "AR": 0.5}])
    a, b = table(runs, "AP")
    assert a["n"] == b["n"] == 3 and a["metrics"]["AP"]["n"] == 2 and b["metrics"]["AP"]["n"] == 1
    assert not b["within_noise"]["AP"] and not b["within_noise"]["AR"]
    text = format_table([a, b])
    assert "0.600 ± 0.141* (2 of 3)" in text and "0.100 ± 0.000  (1 of 3)" in text
    assert "fewer than 2 numbers" in text  # said even though every model has 3 runs


def test_every_metric_gets_mean_sd_and_a_within_noise_mark():
    runs = _runs(
        "a", [{"AP": 0.50, "AP50": 0.80, "loss": 1.0}, {"AP": 0.52, "AP50": 0.82, "loss": 1.2}]
    )
    runs += _runs(
        "b", [{"AP": 0.40, "AP50": 0.81, "loss": 0.5}, {"AP": 0.42, "AP50": 0.79, "loss": 0.7}]
    )
    runs += [{"model": "b", "seed": 2, "status": "failed", "metrics": None}]  # not counted
    rows = {r["model"]: r for r in table(runs, main="AP")}
    assert rows["a"]["n"] == 2 and rows["b"]["n"] == 2
    assert list(rows["a"]["metrics"]) == ["AP", "AP50", "loss"]
    assert rows["a"]["metrics"]["AP"]["mean"] == pytest.approx(0.51)
    assert rows["a"]["metrics"]["AP"]["sd"] == pytest.approx(math.sqrt(2) * 0.01)
    # AP: a is best; b's gap 0.10 is far beyond both sds (0.014)
    assert rows["a"]["within_noise"]["AP"] and not rows["b"]["within_noise"]["AP"]
    # AP50: a 0.81 ± 0.014, b 0.80 ± 0.014: a gap of 0.01 < 0.014, within noise
    assert rows["a"]["within_noise"]["AP50"] and rows["b"]["within_noise"]["AP50"]
    # loss: lower is better, so b (0.6) is the best and a (1.1 ± 0.14) is not within noise
    assert rows["b"]["within_noise"]["loss"] and not rows["a"]["within_noise"]["loss"]
    assert rows["b"]["best"]["loss"] and not rows["a"]["best"]["loss"]
    assert rows["a"]["best"]["AP"] and not rows["b"]["best"]["AP"]


def test_equal_means_are_within_noise_and_lower_is_better_names():
    rows = table(_runs("a", [{"x": 0.0}]) + _runs("b", [{"x": 0.0}]))
    assert all(r["within_noise"]["x"] for r in rows)
    assert lower_is_better("loss") and lower_is_better("loss_box") and lower_is_better("i2t/med_r")
    assert not lower_is_better("AP") and not lower_is_better("miou") and not lower_is_better("R@1")


def test_the_printed_table_shows_every_metric_and_marks_the_best():
    runs = _runs("a", [{"AP": 0.5}, {"AP": 0.6}]) + _runs("b", [{"AP": 0.1, "AR": 0.2}])
    text = format_table(table(runs, "AP"))
    assert "0.550 ± 0.071*" in text and "0.100 ± 0.000" in text and "0.000~" not in text
    assert "AR" in text and "a (n=2)" in text and "b (n=1)" in text
    assert "fewer than 2 numbers has no spread" in text
