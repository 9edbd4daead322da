"""The YOLO peer end to end, where the bench extra is installed (skipped otherwise): trained on
the train split for the budget, its report predictions scored by our evaluator."""

from __future__ import annotations

import json

import pytest
from peer_jobs import run_peer

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


def test_yolov8n_seg_trains_on_outlines_and_its_masks_are_scored(tmp_path):
    out = run_peer(tmp_path, "yolov8n-seg", "instance", "scenes:size=48,n=12", 12)
    last = json.loads((out / "scores.json").read_text())["checkpoints"]["last"]
    assert 0 <= last["mask_AP"] <= 1 and 0 <= last["AP"] <= 1
    labels = next((out / "data" / "train" / "labels").glob("*.txt")).read_text().split("\n")[0]
    assert len(labels.split()) >= 7  # a class and at least three x y pairs
