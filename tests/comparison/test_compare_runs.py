"""A tiny comparison on scenes, end to end: every (model, seed) a real ``regionlab train``
process, scored on the report split; a failing run reported while the others go on; a second
call with ``--reuse`` trains nothing again; runs of another command or commit refused."""

from __future__ import annotations

import json

import pytest

from regionlab.api.subsets import read_subset
from regionlab.cli.main import main
from regionlab.comparison.driver import compare, timing

DATA = "scenes:size=32,n=20"
FLAGS = "--epochs 1 --widths 8,16 --batch-size 4"
# "broken" fails in its run (epochs must be >= 1), after the flags parsed
MODELS = "fcn,broken=fcn[--epochs 0]"


def _compare(out, **kw):
    kw = {"models": MODELS, "seeds": 2, "threads": 1, "parallel": 2, "flags": FLAGS, **kw}
    return compare("segment", DATA, out=out, say=lambda *a: None, **kw)


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    out = tmp_path_factory.mktemp("cmp") / "cmp"
    return out, _compare(out)


def test_runs_are_scored_on_the_report_split_and_failures_reported(first):
    out, result = first
    assert json.loads((out / "compare.json").read_text()) == result
    assert result["kind"] == "compare" and result["main_metric"] == "miou"
    assert {"regionlab", "commit", "dirty", "torch", "threads", "parallel", "machine"} <= set(
        result["provenance"]
    )
    runs = {(r["model"], r["seed"]): r for r in result["runs"]}
    assert result["failed"] == ["broken-s0", "broken-s1"]
    assert runs["broken", 0]["status"] == "failed"
    assert "epochs must be >= 1" in runs["broken", 0]["error"]
    for s in (0, 1):
        r = runs["fcn", s]
        assert r["status"] == "done" and r["dir"] == f"runs/fcn-s{s}" and r["threads"] == 1
        assert r["metrics"] == r["checkpoints"]["best"] and "last" in r["checkpoints"]
        assert 0 <= r["metrics"]["miou"] <= 1 and "iou/circle" in r["metrics"]
    row = next(t for t in result["table"] if t["model"] == "fcn")
    assert row["n"] == 2 and len(row["metrics"]["miou"]["values"]) == 2
    assert set(row["within_noise"]) == set(row["metrics"])  # every metric, none picked
    assert next(t for t in result["table"] if t["model"] == "broken")["n"] == 0
    assert result["timing"]["overhead"]["runs"] == 2 and result["timing"]["overhead"]["seconds"] > 0
    page = (out / "report.html").read_text()  # written at the end, a row per model
    assert page.count('id="results"') == 1 and "fcn" in page and "broken" in page


def test_overhead_counts_only_runs_trained_from_scratch_now():
    runs = [
        {"status": "done", "resumed": False, "seconds": 100.0, "wall_seconds": 104.0},
        {"status": "done", "resumed": False, "seconds": 100.0, "wall_seconds": 102.0},
        {"status": "done", "resumed": True, "seconds": 100.0, "wall_seconds": 50.0},
        {"status": "skipped", "resumed": False, "seconds": 100.0, "wall_seconds": 0.0},
        {"status": "failed", "resumed": False, "seconds": None, "wall_seconds": 3.0},
    ]
    t = timing(runs, 260.0, 2)
    assert t["overhead"] == {"runs": 2, "seconds": 6.0, "report_seconds": 0.0, "fraction": 0.03}
    assert t["train_seconds"] == 400.0 and t["parallel"] == 2
    assert t["idle_slot_seconds"] == 520.0 - 259.0  # two slots for 260 s, 259 s of runs in them
    t = timing(runs, 260.0, 2, report_seconds=4.0)  # the page's time is overhead too
    assert t["overhead"]["seconds"] == 10.0 and t["overhead"]["fraction"] == 0.05
    assert t["wall_seconds"] == 264.0
    # trained by an earlier call, only scored by this one: 5 s of scoring is not -95 s
    scored = {"status": "done", "resumed": False, "seconds": 100.0, "wall_seconds": 5.0,
              "ran": ["score"]}  # fmt: skip
    assert timing([*runs, scored], 260.0, 2)["overhead"]["seconds"] == 6.0


def test_a_finished_run_is_scored_again_when_the_report_split_changes(tmp_path):
    out, val_a, val_b = tmp_path / "cmp", "scenes:size=32,n=6", "scenes:size=32,n=6,seed=5"
    first = _compare(out, models="fcn", seeds=1, parallel=1, val=val_a)
    finished = out / "runs" / "fcn-s0" / "metrics.json"
    before = finished.stat().st_mtime_ns
    again = _compare(out, models="fcn", seeds=1, parallel=1, val=val_b, reuse_runs=True)
    scores = json.loads((out / "runs" / "fcn-s0" / "scores.json").read_text())
    assert scores["spec"] == val_b and again["runs"][0]["ran"] == ["score"]
    assert finished.stat().st_mtime_ns == before  # not trained again
    assert again["runs"][0]["metrics"] != first["runs"][0]["metrics"]


def test_the_report_split_is_never_trained_on_nor_chosen_on(first):
    out, result = first
    record = json.loads((out / "runs" / "fcn-s0" / "run.json").read_text())
    train_spec, tune_spec = record["data"]["train"], record["data"]["val"]
    scores = json.loads((out / "runs" / "fcn-s0" / "scores.json").read_text())

    def idx(spec):
        return set(read_subset(spec.split("subset=")[1]).indices)

    report, tune, train = idx(scores["spec"]), idx(tune_spec), idx(train_spec)
    assert report and tune and train
    assert not (report & train) and not (report & tune) and not (tune & train)
    assert "tune.json" in record["splits"]["selection"]  # the run says where best.pt came from
    assert "never trained on" in result["split"]["report"]


def test_reuse_skips_finished_runs_and_refuses_other_commands_and_commits(first):
    out, _ = first
    finished = out / "runs" / "fcn-s0" / "metrics.json"
    before = finished.stat().st_mtime_ns
    with pytest.raises(ValueError, match="--reuse"):
        _compare(out)
    again = _compare(out, reuse_runs=True)
    statuses = {(r["model"], r["seed"]): r["status"] for r in again["runs"]}
    assert statuses[("fcn", 0)] == statuses[("fcn", 1)] == "skipped"
    assert statuses[("broken", 0)] == "failed"  # tried again, failed again
    assert finished.stat().st_mtime_ns == before
    assert again["table"][0]["n"] == 2
    with pytest.raises(ValueError, match="started by another command"):
        _compare(out, models="fcn", reuse_runs=True, flags=FLAGS + " --lr 0.01")
    record = out / "runs" / "fcn-s1" / "run.json"
    data = json.loads(record.read_text())
    data["git"] = {"commit": "0" * 40, "dirty": False}
    record.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="trained at commit 0000"):
        _compare(out, models="fcn", reuse_runs=True)
    # fcn-s1 as if killed after its last checkpoint: it resumes from last.pt, then is scored
    (out / "runs" / "fcn-s1" / "metrics.json").unlink()
    (out / "runs" / "fcn-s1" / "scores.json").unlink()
    mixed = _compare(out, models="fcn", reuse_runs=True, allow_mixed_commits=True)
    assert [r["status"] for r in mixed["runs"]] == ["skipped", "done"]
    assert mixed["runs"][1]["resumed"] and mixed["runs"][1]["metrics"]["miou"] >= 0
    assert "--resume" in (out / "logs" / "fcn-s1.log").read_text()


def test_the_command_checks_every_run_flag_and_the_peers_before_training(tmp_path, capsys):
    out = tmp_path / "cmp"
    base = ["compare", "segment", "--data", DATA, "--out", str(out), "--seeds", "1"]
    assert main([*base, "--models", "fcn[--no-such-flag 3]"]) == 2
    assert "--models entry fcn" in capsys.readouterr().err
    assert not (out / "runs").exists()
    assert main([*base, "--models", "fcn", "--peers", "yolov8n"]) == 2
    assert "yolov8n is a detect peer, not segment" in capsys.readouterr().err
    assert main([*base, "--models", "fcn", "--peers", "nope"]) == 2
    assert "unknown peer 'nope'" in capsys.readouterr().err
