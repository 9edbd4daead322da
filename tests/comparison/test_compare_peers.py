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
    unready = peers.KnownPeer("later", ("segment",), "torchvision")
    monkeypatch.setitem(peers.KNOWN, "later", unready)
    with pytest.raises(ValueError, match="not written yet"):
        peers.check_peers(["later"], "segment")
    assert [p.name for p in peers.check_peers(["tv-lraspp", "smp-unet"], "segment")] == [
        "tv-lraspp",
        "smp-unet",
    ]
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


def test_instance_peer_masks_are_scored_by_our_evaluator():
    spec = "scenes:size=48,n=3"
    ds = open_dataset(spec, split="val")
    perfect, boxes_only = [], []
    for i in range(len(ds)):
        s = ds[i]
        ones = s.labels.float() * 0 + 1
        perfect.append(Detections(s.boxes.float(), s.labels.long(), ones, masks=s.masks.bool()))
        empty = s.masks.bool() & False
        boxes_only.append(Detections(s.boxes.float(), s.labels.long(), ones, masks=empty))
    metrics = score_predictions("instance", spec, perfect)
    assert metrics["mask_AP"] == pytest.approx(1.0) and metrics["AP"] == pytest.approx(1.0)
    assert score_predictions("instance", spec, boxes_only)["mask_AP"] == 0.0


def test_a_mask_outline_for_yolo_labels_fills_back_to_the_mask():
    import torch

    from regionlab.comparison.peer_yolo import polygon, rasterize

    mask = torch.zeros(40, 60, dtype=torch.bool)
    mask[10:30, 5:45] = True
    outline = polygon(mask)
    assert outline is not None and all(0 <= v <= 1 for v in outline)
    xy = torch.tensor(outline).view(-1, 2) * torch.tensor([60.0, 40.0])
    back = rasterize([xy.numpy()], (40, 60))[0]
    assert (back & mask).sum() / (back | mask).sum() > 0.95
    assert polygon(torch.zeros(8, 8, dtype=torch.bool)) is None


def test_a_yolo_seg_peer_is_scored_on_its_own_masks_not_refilled_outlines():
    from types import SimpleNamespace

    import torch

    from regionlab.comparison.peer_yolo import peer_masks

    data = torch.zeros(2, 16, 20)
    data[0, 4:12, 5:9] = 1.0  # a 4 px wide object: refilled from its outline it loses a rim
    got = peer_masks(SimpleNamespace(orig_shape=(16, 20), masks=SimpleNamespace(data=data)))
    assert got.dtype == torch.bool and torch.equal(got, data > 0.5)
    none = peer_masks(SimpleNamespace(orig_shape=(16, 20), masks=None))
    assert none.shape == (0, 16, 20)
    with pytest.raises(ValueError, match="not the image's"):
        peer_masks(SimpleNamespace(orig_shape=(32, 40), masks=SimpleNamespace(data=data)))


def test_timed_predictions_warm_up_once_untimed_and_keep_one_result_per_image():
    calls = []
    out, ms = peers.timed_predictions(3, lambda i: i * 10, lambda x: calls.append(x) or -x)
    assert calls == [0, 0, 10, 20] and out == [0, -10, -20] and ms >= 0
    assert peers.timed_predictions(0, None, None) == ([], None)
