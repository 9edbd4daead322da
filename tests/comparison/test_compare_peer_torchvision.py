"""torchvision's Faster R-CNN peer end to end (torchvision is always installed): trained by our
loop for about a second, its report predictions scored by our evaluator and kept, with what
the report's cost row needs."""

from __future__ import annotations

import json

import pytest
from peer_jobs import run_peer

from regionlab.comparison.peer_run import score_predictions
from regionlab.eval.results_file import read_results


def test_tv_frcnn_keeps_the_predictions_it_was_scored_on_and_its_cost(tmp_path):
    out = run_peer(tmp_path, "tv-frcnn", "detect", "scenes:size=48,n=12", 12)
    last = json.loads((out / "scores.json").read_text())["checkpoints"]["last"]
    spec, preds = read_results(out / "predictions.json")
    assert len(preds) == 2
    assert score_predictions("detect", spec, preds) == pytest.approx(last, nan_ok=True)
    model = json.loads((out / "run.json").read_text())["model"]
    assert model["parameters"] > 1e6 and model["input"] == [3, 320, 320]
    assert model["gflops_per_image"] > 0
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["train_images"] == 8 * summary["steps"] and summary["test_ms_per_image"] > 0
