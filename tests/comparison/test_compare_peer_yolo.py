"""The YOLO peer end to end, where the bench extra is installed (skipped otherwise): trained on
the train split for the budget, its report predictions scored by our evaluator."""

from __future__ import annotations

import json

import pytest
from peer_jobs import run_peer

from regionlab.eval.results_file import read_results

pytest.importorskip("ultralytics")


def test_yolov8n_trains_and_is_scored_on_the_report_images(tmp_path):
    out = run_peer(tmp_path, "yolov8n", "detect", "scenes:size=48,n=12", 12)
    scores = json.loads((out / "scores.json").read_text())
    assert (
        0 <= scores["checkpoints"]["last"]["AP"] <= 1 and "AR100" in scores["checkpoints"]["last"]
    )
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["peer"] == "yolov8n" and summary["epochs"] >= 1
    record = json.loads((out / "run.json").read_text())
    assert record["command"].startswith("python -m regionlab.comparison.peer_run yolov8n")
    # the report's cost row: size and FLOPs at its input, images seen, test time at batch 1
    assert record["model"]["parameters"] > 1e6 and record["model"]["gflops_per_image"] > 0
    assert record["model"]["input"] == [3, 320, 320]
    assert summary["train_images"] >= 8 and summary["test_ms_per_image"] > 0


def test_the_scored_predictions_are_kept_for_the_report(tmp_path):
    from regionlab.comparison.peer_run import score_predictions

    out = run_peer(tmp_path, "yolov8n", "detect", "scenes:size=48,n=12", 12)
    spec, preds = read_results(out / "predictions.json")
    assert spec == json.loads((out / "scores.json").read_text())["spec"] and len(preds) == 2
    rescored = score_predictions("detect", spec, preds)
    last = json.loads((out / "scores.json").read_text())["checkpoints"]["last"]
    assert rescored == pytest.approx(last, nan_ok=True)


def test_yolov8n_seg_trains_on_outlines_and_its_masks_are_scored(tmp_path):
    out = run_peer(tmp_path, "yolov8n-seg", "instance", "scenes:size=48,n=12", 12)
    last = json.loads((out / "scores.json").read_text())["checkpoints"]["last"]
    assert 0 <= last["mask_AP"] <= 1 and 0 <= last["AP"] <= 1
    labels = next((out / "data" / "train" / "labels").glob("*.txt")).read_text().split("\n")[0]
    assert len(labels.split()) >= 7  # a class and at least three x y pairs
    _, preds = read_results(out / "predictions.json")
    assert all(p.masks is not None and p.masks.shape[1:] == (48, 48) for p in preds)
