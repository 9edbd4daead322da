"""Peers are checked before anything trains (unknown names, the wrong task, a missing bench
extra, one not trainable yet, no time budget: errors in our words); a peer's job gets our
splits, threads and budget; its predictions are scored by our detectors' evaluator."""

from __future__ import annotations

from pathlib import Path

import pytest

from regionlab.api.specs import open_dataset
from regionlab.comparison import peers
from regionlab.comparison.peer_run import score_predictions
from regionlab.comparison.plan import PEER_RUNNER, plan_peer_jobs
from regionlab.comparison.reuse import expected_command
from regionlab.ops.detections import Detections


def test_a_missing_extra_names_the_install_command(monkeypatch):
    monkeypatch.setattr(peers, "installed", lambda module: False)
    with pytest.raises(
        ImportError, match=r'ultralytics, from the bench extra: pip install -e "\.\[bench\]"'
    ):
        peers.check_peers(["yolo26n"], "detect")


def test_peers_are_checked_by_name_task_and_readiness(monkeypatch):
    monkeypatch.setattr(peers, "installed", lambda module: True)
    with pytest.raises(ValueError, match="not written yet"):
        peers.check_peers(["smp-unet"], "segment")
    with pytest.raises(ValueError, match="tv-frcnn is a detect peer, not segment"):
        peers.check_peers(["tv-frcnn"], "segment")
    with pytest.raises(ValueError, match="unknown peer 'nope'"):
        peers.check_peers(["nope"], "detect")
    chosen = peers.check_peers(["tv-frcnn", "yolov8n"], "detect")
    assert [p.name for p in chosen] == ["tv-frcnn", "yolov8n"]
    assert hasattr(peers.load_peer("tv-frcnn"), "run") and hasattr(
        peers.load_peer("yolo26n"), "run"
    )


def test_a_peer_job_gets_the_splits_threads_and_budget_of_ours():
    (job,) = plan_peer_jobs("detect", ["tv-frcnn"], [2], train_spec="T", tune_spec="V",
                            report_spec="R", runs=Path("/r"), threads=3, minutes=0.5)  # fmt: skip
    assert (
        job.runner == PEER_RUNNER
        and job.name == "tv-frcnn-s2"
        and job.dir == Path("/r/tv-frcnn-s2")
    )
    argv = list(job.argv)
    for flag, value in [("--train", "T"), ("--tune", "V"), ("--report", "R"), ("--seed", "2"),
                        ("--threads", "3"), ("--minutes", "0.5")]:  # fmt: skip
        assert argv[argv.index(flag) + 1] == value
    assert expected_command(job).startswith(f"python -m {PEER_RUNNER} tv-frcnn --task detect")


def test_peer_predictions_are_scored_by_our_evaluator():
    spec = "scenes:size=48,n=3"
    ds = open_dataset(spec, split="val")
    perfect = []
    for i in range(len(ds)):
        s = ds[i]
        perfect.append(
            Detections(s.boxes.float(), s.labels.long(), scores=s.labels.float() * 0 + 1)
        )
    metrics = score_predictions("detect", spec, perfect)
    assert metrics["AP"] == pytest.approx(1.0) and "AP50" in metrics and "AR100" in metrics
    with pytest.raises(ValueError, match="2 predictions for 3 images"):
        score_predictions("detect", spec, perfect[:2])


def test_peers_need_a_time_budget(tmp_path):
    from regionlab.comparison.driver import compare

    with pytest.raises(ValueError, match="--peers need --minutes"):
        compare("detect", "scenes", models="grid", peers=["tv-frcnn"], out=tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_a_model_label_may_not_hide_a_peer(tmp_path):
    from regionlab.comparison.driver import compare

    with pytest.raises(ValueError, match="both name tv-frcnn"):
        compare("detect", "scenes", models="tv-frcnn=grid", peers=["tv-frcnn"], minutes=1,
                out=tmp_path / "c")  # fmt: skip
    assert not (tmp_path / "c").exists()
