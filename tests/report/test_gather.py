"""What the report reads from a run folder: curves against seconds and images seen, training
images per second, peak memory, the checkpoint it predicts with; unreadable files named."""

from __future__ import annotations

import json

import pytest

from regionlab.report.gather import gather, read_run


def _run(folder, rows, record=None):
    folder.mkdir()
    record = record or {"task": "segment", "config": {"batch_size": 4}, "runtime": {"world": 2}}
    (folder / "run.json").write_text(json.dumps(record))
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_curves_speed_and_memory_come_from_the_rows(tmp_path):
    rows = [
        {"split": "train", "step": 1, "time": 0.5, "loss": 2.0, "memory": {"peak_rss_mb": 300.0}},
        {"split": "val", "step": 10, "time": 4.0, "miou": 0.25},
        {"split": "train", "step": 20, "time": 8.0, "loss": 1.0, "memory": {"peak_rss_mb": 420.5}},
        {"split": "val", "step": 20, "time": 8.0, "miou": float("nan")},
        {"split": "val", "step": 30, "time": 12.0, "miou": 0.5},
    ]
    run = read_run(_run(tmp_path / "r", rows))
    assert run.curve("miou", "time") == [(4.0, 0.25), (12.0, 0.5)]  # nan left out
    assert run.curve("miou", "images") == [(80.0, 0.25), (240.0, 0.5)]  # 4 images x 2 processes
    assert run.train_images_per_second() == pytest.approx(20 * 8 / 8.0)
    assert run.peak_memory_mb() == 420.5 and run.peak_memory_mb("peak_cuda_mb") is None
    assert run.checkpoint() is None
    (tmp_path / "r" / "last.pt").write_bytes(b"")
    assert run.checkpoint().name == "last.pt"
    (tmp_path / "r" / "best.pt").write_bytes(b"")
    assert run.checkpoint().name == "best.pt"  # the best validation score is predicted
    g = gather(tmp_path / "r")
    assert g.kind == "run" and g.task == "segment" and g.main_metric == "miou"


def test_unreadable_files_are_named(tmp_path):
    folder = _run(tmp_path / "r", [])
    (folder / "run.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"run\.json: unreadable"):
        gather(folder)
    (folder / "run.json").write_text("{}")
    (tmp_path / "r" / "compare.json").write_text(json.dumps({"runs": "x"}))
    with pytest.raises(ValueError, match=r"compare\.json: 'runs' must be a list"):
        gather(folder)
