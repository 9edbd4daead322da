"""report.html of finished runs and of a compare folder: the sections of each task, one table
row per model, every string from data escaped, nothing fetched from anywhere."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import pytest
from conftest import HOSTILE, HOSTILE_FILE, NAMES
from PIL import Image

from regionlab.cli.main import main
from regionlab.report import write_report
from regionlab.report.page import CSP, text

URI = re.compile(r'src="(data:image/(?:png|jpeg);base64,[^"]*)"')


def _check_self_contained(page: str) -> None:
    """No script, no URL outside the page, the CSP meta, every image a decodable PNG / JPEG."""
    assert "<script" not in page.lower()
    assert not re.search(r'(src|href)\s*=\s*["\']?\s*(https?:|//|file:)', page, re.I)
    assert "http://" not in page and "https://" not in page
    assert f'http-equiv="Content-Security-Policy" content="{text(CSP)}"' in page
    tags = re.findall(r"<img\b[^>]*>", page)
    uris = URI.findall(page)
    assert tags and len(uris) == len(tags), "an <img> without a PNG / JPEG data: URI"
    for uri in uris:
        png = base64.b64decode(uri.split(",", 1)[1], validate=True)
        assert Image.open(io.BytesIO(png)).size[0] > 0


def _rows(page: str, table_id: str) -> list[str]:
    body = re.search(rf'<table id="{table_id}">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert body, f"no table {table_id}"
    return re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)


def test_train_writes_a_detection_report_with_names_from_data_as_text(det_run):
    page = (det_run / "report.html").read_text(encoding="utf-8")
    _check_self_contained(page)
    for name in NAMES:  # every class name shows, as text
        assert text(name) in page
    assert text(HOSTILE_FILE) in page  # a file name too
    assert HOSTILE not in page and "<script>alert" not in page and "<b onclick" not in page
    assert len(_rows(page, "results")) == 1
    for section in ("curves", "cost", "detection", "ap-per-class", "ap-by-size", "side-by-side"):
        assert f'id="{section}"' in page
    assert len(_rows(page, "ap-per-class")) == len(NAMES)
    assert "precision-recall curves of det" in page and "confusion matrix of det" in page
    assert "F1 against confidence of det" in page
    cost = _rows(page, "cost")[0]
    params = json.loads((det_run / "run.json").read_text())["model"]["parameters"]
    assert f"{params:,}" in cost  # parameters from run.json's model summary
    assert re.search(r"\d+\.\d+ \(cpu\)", cost), cost  # test ms/image measured at batch 1
    assert "best.pt" in page  # says which checkpoint predicted


def test_segmentation_report_has_confusion_and_iou_per_class(seg_run):
    page = (seg_run / "report.html").read_text(encoding="utf-8")
    _check_self_contained(page)
    from regionlab.data.scenes import CLASSES

    assert [re.search(r'class="text">([^<]*)<', r).group(1) for r in _rows(page, "iou")] == CLASSES
    assert "pixel confusion of seg" in page and 'id="worst"' in page
    assert "first 4 of 4 validation images of scenes:size=32,n=4" in page
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", _rows(page, "cost")[0])
    record = json.loads((seg_run / "run.json").read_text())
    assert cells[6] == record["runtime"]["precision"]["name"]  # the training step's arithmetic
    rss = float(cells[8].replace(",", ""))  # peak RSS sampled during the training steps
    assert 10 < rss < 100_000


def _compare(folder: Path, det_run: Path) -> Path:
    """A compare folder by hand: one model run twice, one with a hostile name, one failed."""
    runs = [
        {"model": "grid", "seed": 0, "dir": str(det_run), "status": "done", "seconds": 3.0,
         "metrics": {"AP": 0.02}},
        {"model": "grid", "seed": 1, "dir": str(det_run), "status": "done", "seconds": 3.1,
         "metrics": {"AP": 0.03}},
        {"model": HOSTILE, "seed": 0, "dir": str(det_run), "status": "done"},
        {"model": "broken", "seed": 0, "dir": "runs/broken-s0", "status": "failed"},
    ]  # fmt: skip
    table = [
        {"model": m, "n": n, "metrics": {"AP": {"mean": 0.025, "sd": 0.007, "values": [0.02]}},
         "within_noise": {"AP": True}, "best": {"AP": m == "grid"}}
        for m, n in (("grid", 2), (HOSTILE, 1), ("broken", 0))
    ]  # fmt: skip
    folder.mkdir()
    (folder / "compare.json").write_text(json.dumps({
        "kind": "compare", "task": "detect", "command": ["regionlab", "compare", HOSTILE],
        "provenance": {}, "split": {"report": "val", "tune": "train"}, "main_metric": "AP",
        "runs": runs, "table": table}))  # fmt: skip
    return folder


def test_runs_a_repeated_compare_reused_are_predicted_as_finished(det_run, tmp_path):
    folder = _compare(tmp_path / "cmp", det_run)
    data = json.loads((folder / "compare.json").read_text())
    for run in data["runs"]:  # what --reuse records for runs finished before
        run["status"] = "skipped" if run["status"] == "done" else run["status"]
    (folder / "compare.json").write_text(json.dumps(data))
    page = write_report(folder, max_images=2).read_text(encoding="utf-8")
    assert "grid: no finished run" not in page and "done (earlier)" in page
    assert len(_rows(page, "side-by-side")) == 2  # truth + grid + the hostile one, 2 images


def test_compare_report_has_a_row_and_a_column_per_model(det_run, tmp_path, capsys):
    folder = _compare(tmp_path / "cmp", det_run)
    assert main(["report", str(folder), "--images", "3"]) == 0
    assert capsys.readouterr().out.strip() == str(folder / "report.html")
    page = (folder / "report.html").read_text(encoding="utf-8")
    _check_self_contained(page)
    assert HOSTILE not in page and text(HOSTILE) in page
    results = _rows(page, "results")
    assert len(results) == 3  # grid, the hostile name, broken
    assert "(best)" in results[0] and "(within noise)" in results[1]  # the best is not "noise"
    assert len(_rows(page, "cost")) == 4  # every run, failed ones included
    assert "at ?" not in page  # the failed run has no FLOP count: a dash, not "— at ?"
    side = _rows(page, "side-by-side")
    assert len(side) == 3 and all(r.count("<img ") == 3 for r in side)  # truth + 2 models
    assert "broken (seed 0): run folder" in page and "failed" in page
    assert "first 3 of 6 validation images" in page


def test_report_of_what_is_not_a_run_is_an_error_naming_it(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "compare.json" in err
    with pytest.raises(FileNotFoundError, match="no such folder"):
        write_report(tmp_path / "missing")


def test_a_report_that_fails_only_warns_and_the_run_stands(tmp_path, monkeypatch, capsys):
    import regionlab
    import regionlab.report

    def broken(folder, **kw):
        raise RuntimeError("no space left")

    monkeypatch.setattr(regionlab.report, "write_report", broken)
    out = tmp_path / "seg"
    summary = regionlab.train("segment", data="scenes:size=32,n=4", val="scenes:size=32,n=2",
                              widths=[8], epochs=1, batch_size=4, threads=1, scale=[1, 1],
                              out=str(out))  # fmt: skip
    assert summary["steps"] == 1 and (out / "best.pt").is_file()
    assert not (out / "report.html").exists()
    said = capsys.readouterr().out
    assert "warning:" in said and "report.html not written (RuntimeError: no space left)" in said
    # and report=False writes none, asking nothing of the report room
    regionlab.train("segment", data="scenes:size=32,n=4", val="scenes:size=32,n=2", widths=[8],
                    epochs=1, batch_size=4, threads=1, scale=[1, 1], out=str(tmp_path / "b"),
                    report=False)  # fmt: skip
    assert not (tmp_path / "b" / "report.html").exists()
    assert "report.html" not in capsys.readouterr().out


def test_caption_report_shows_references_and_each_models_caption(tmp_path):
    import regionlab

    out = tmp_path / "cap"
    regionlab.train("caption", data="scenes:size=32,n=8", val="scenes:size=32,n=3", epochs=1,
                    batch_size=4, hidden=32, widths=[8, 16], threads=1, out=str(out))  # fmt: skip
    page = (out / "report.html").read_text(encoding="utf-8")
    _check_self_contained(page)
    rows = _rows(page, "captions")
    assert len(rows) == 3 and all(r.count("<li>") >= 1 for r in rows)  # references, listed
    assert 'id="worst"' in page and "CIDEr-D of the image" in page


def test_compare_report_predicts_the_report_split_from_specs(det_run, tmp_path):
    """``compare.json``'s ``split`` says in words how each split was made; the images drawn and
    diagnosed are those of ``specs["report"]`` (not each run's own tune split)."""
    folder = _compare(tmp_path / "cmp", det_run)
    data = json.loads((folder / "compare.json").read_text())
    coco_spec = json.loads((det_run / "run.json").read_text())["data"]["train"]
    report = f"{coco_spec}:start=1,stop=4"  # 3 of the set's images
    data["split"] = {"report": "--val ... (all of it): never trained on", "tune": "words"}
    data["specs"] = {"report": report, "tune": "unused", "train": "unused"}
    (folder / "compare.json").write_text(json.dumps(data))
    page = write_report(folder, max_images=5).read_text(encoding="utf-8")
    assert f"first 3 of 3 validation images of {text(report)}" in page
    # the figures are one run's, on these images: the page says they may differ from the table
    assert "so they can differ from the table above (all 3 images, mean over seeds)" in page


def _peer_run(folder: Path, report: str) -> Path:
    """A finished peer run as ``peer_run`` leaves it: its stored predictions of ``report`` (the
    truth itself, scored 0.9), its size and FLOPs, images seen and test time."""
    import torch

    from regionlab.api.specs import open_dataset
    from regionlab.eval.results_file import write_results
    from regionlab.ops.detections import Detections

    ds = open_dataset(report, split="val")
    samples = [ds[i] for i in range(len(ds))]
    preds = [Detections(s.boxes.float(), s.labels, torch.full((len(s.boxes),), 0.9))
             for s in samples]  # fmt: skip
    folder.mkdir(parents=True)
    write_results(folder / "predictions.json", preds, [s.size for s in samples], report)
    model = {"parameters": 3_000_000, "gflops_per_image": 2.5, "input": [3, 320, 320]}
    (folder / "run.json").write_text(json.dumps({"command": "peer", "model": model}))
    (folder / "metrics.json").write_text(json.dumps({
        "task": "detect", "peer": "yolo", "train_seconds": 10.0, "train_images": 50,
        "test_ms_per_image": 4.5, "final": {"AP": 1.0}}))  # fmt: skip
    return folder


def test_a_peer_is_drawn_diagnosed_and_costed_from_its_stored_predictions(det_run, tmp_path):
    folder = _compare(tmp_path / "cmp", det_run)
    data = json.loads((folder / "compare.json").read_text())
    report = f"{json.loads((det_run / 'run.json').read_text())['data']['train']}:start=1,stop=4"
    data["specs"] = {"report": report, "tune": "unused", "train": "unused"}
    peer = _peer_run(folder / "runs" / "yolo-s0", report)
    data["runs"].append({"model": "yolo", "seed": 0, "dir": str(peer), "status": "done"})
    (folder / "compare.json").write_text(json.dumps(data))
    page = write_report(folder, max_images=2).read_text(encoding="utf-8")
    _check_self_contained(page)
    assert "yolo: no finished run" not in page and "could not predict" not in page
    side = _rows(page, "side-by-side")
    assert len(side) == 2 and all(r.count("<img ") == 4 for r in side)  # truth + 2 + the peer
    assert "precision-recall curves of yolo" in page and "confusion matrix of yolo" in page
    assert "yolo: yolo (seed 0), its stored predictions (predictions.json" in page
    cost = next(r for r in _rows(page, "cost") if "yolo (seed 0)" in r)
    assert "3,000,000" in cost and "2.5 at 3x320x320" in cost and "4.5 (its own run)" in cost
    assert ">5<" in cost  # 50 images in 10 training seconds


def test_a_peers_predictions_of_other_images_are_a_problem_on_the_page(det_run, tmp_path):
    folder = _compare(tmp_path / "cmp", det_run)
    data = json.loads((folder / "compare.json").read_text())
    coco = json.loads((det_run / "run.json").read_text())["data"]["train"]
    data["specs"] = {"report": f"{coco}:start=1,stop=4", "tune": "-", "train": "-"}
    peer = _peer_run(folder / "runs" / "yolo-s0", f"{coco}:start=0,stop=3")
    data["runs"].append({"model": "yolo", "seed": 0, "dir": str(peer), "status": "done"})
    (folder / "compare.json").write_text(json.dumps(data))
    page = write_report(folder, max_images=2).read_text(encoding="utf-8")
    assert "yolo: could not predict with" in page and "not of the page&#x27;s images" in page


def test_a_segmentation_peer_is_drawn_from_its_class_maps(seg_run, tmp_path):
    from regionlab.api.specs import open_dataset
    from regionlab.eval.results_file import write_class_maps

    report = "scenes:size=32,n=4"
    ds = open_dataset(report, split="val")
    folder = tmp_path / "cmp"
    peer = folder / "runs" / "unet-s0"
    peer.mkdir(parents=True)
    write_class_maps(peer / "predictions.json", [ds[i].semantic for i in range(len(ds))], report)
    (peer / "metrics.json").write_text(json.dumps({"task": "segment", "test_ms_per_image": 2.0}))
    runs = [{"model": "seg", "seed": 0, "dir": str(seg_run), "status": "done"},
            {"model": "unet", "seed": 0, "dir": str(peer), "status": "done"}]  # fmt: skip
    (folder / "compare.json").write_text(json.dumps({
        "kind": "compare", "task": "segment", "main_metric": "miou", "runs": runs,
        "specs": {"report": report, "tune": "-", "train": "-"}}))  # fmt: skip
    page = write_report(folder, max_images=3).read_text(encoding="utf-8")
    _check_self_contained(page)
    assert "could not predict" not in page and "pixel confusion of unet" in page
    side = _rows(page, "side-by-side")
    assert len(side) == 3 and all(r.count("<img ") == 3 for r in side)  # truth, ours, the peer
    ious = [re.findall(r"<td[^>]*>([^<]*)</td>", r)[-1] for r in _rows(page, "iou")]
    # the truth itself: IoU 1 for every class present ("—" for one in none of the images)
    assert set(ious) <= {"1", "—"} and ious.count("1") >= 2
