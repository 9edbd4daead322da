"""The Python API as a notebook uses it: train, load, predict a folder (with a file that is not
an image), typed results in the input's pixels, COCO export; every kind of input alike;
detectors honour conf and max_det; ``regionlab predict`` on files, folders and a video."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_api_inputs import write_video

import regionlab
from regionlab.cli.main import main
from regionlab.data.scenes import CLASSES, SceneConfig, SceneDataset


def _scene(i: int, size: int) -> np.ndarray:
    s = SceneDataset(i + 1, seed=5, split="val", config=SceneConfig(size=size))[i]
    return s.image.permute(1, 2, 0).numpy()


@pytest.fixture(scope="module")
def seg_run(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("api") / "seg"
    summary = regionlab.train("segment", data="scenes:size=32,n=8", val="scenes:size=32,n=4",
                              widths=[8, 16], epochs=2, batch_size=4, threads=1, scale=[1, 1],
                              out=str(out))  # fmt: skip
    return out, summary


@pytest.fixture(scope="module")
def det_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("api") / "det"
    regionlab.train("detect", data="scenes:size=48,n=4", val="scenes:size=48,n=2",
                    model="sliding-window", window=16, window_sizes=[0.4, 0.7], epochs=1,
                    batch_size=2, threads=1, out=str(out))  # fmt: skip
    return out


def test_train_load_predict_a_folder_as_a_notebook_would(seg_run, tmp_path, capsys):
    out, summary = seg_run
    assert summary["task"] == "segment" and 0 <= summary["final"]["miou"] <= 1
    assert json.loads((out / "metrics.json").read_text())["steps"] == summary["steps"]
    model = regionlab.load(out / "best.pt")
    assert isinstance(model, regionlab.Predictor)
    assert model.task_name == "segment" and model.classes == CLASSES
    Image.fromarray(_scene(0, 40)[:, :36]).save(tmp_path / "a.png")  # 40x36: not the trained 32
    Image.fromarray(_scene(1, 32)).save(tmp_path / "b.jpg")
    (tmp_path / "readme.txt").write_text("not an image")
    capsys.readouterr()
    results = model.predict(tmp_path)
    assert [type(r) for r in results] == [regionlab.SegmentationResult] * 2
    assert [Path(r.path).name for r in results] == ["a.png", "b.jpg"]
    assert results[0].class_map.shape == (40, 36) and results[1].class_map.shape == (32, 32)
    assert results[0].image_size == (40, 36) and results[0].names == CLASSES
    assert int(results[0].class_map.max()) < len(CLASSES)
    assert [Path(s.name).name for s in model.skipped] == ["readme.txt"]
    assert "skipped" in capsys.readouterr().out and "readme.txt" in str(model.skipped[0])
    assert results[0].plot().width >= 36
    metrics = regionlab.evaluate(out / "best.pt", data="scenes:size=32,n=4")
    assert 0 <= metrics["miou"] <= 1 and "pixel_acc" in metrics


def test_every_kind_of_input_gives_the_same_prediction(seg_run, tmp_path):
    model = regionlab.load(seg_run[0] / "best.pt", device="cpu")
    arr = _scene(2, 32)
    path = tmp_path / "s.png"
    Image.fromarray(arr).save(path)
    t = torch.from_numpy(arr).permute(2, 0, 1)
    kinds = [path, str(path), str(tmp_path / "*.png"), [path], tmp_path, Image.open(path), arr,
             t, t.float() / 255, t[None].float() / 255]  # fmt: skip
    maps = [model.predict(k)[0].class_map for k in kinds]
    assert all(torch.equal(m, maps[0]) for m in maps[1:])
    several = model.predict([arr, arr, Image.fromarray(arr)], batch_size=2)
    assert len(several) == 3 and all(torch.equal(r.class_map, maps[0]) for r in several)


def test_a_detector_honours_conf_and_max_det_in_the_input_pixels(det_run):
    model = regionlab.load(det_run / "best.pt")
    arr = _scene(3, 64)[:, :56]  # 64x56, not the trained 48
    everything = model.predict(arr, conf=0.0)[0]
    assert isinstance(everything, regionlab.DetectionResult) and len(everything) > 3
    assert float(everything.boxes[:, 2].max()) <= 56 and float(everything.boxes[:, 3].max()) <= 64
    assert everything.scores.tolist() == sorted(everything.scores.tolist(), reverse=True)
    assert len(model.predict(arr, conf=0.0, max_det=3)[0]) == 3
    assert len(model.predict(arr, conf=0.0)[0]) == len(everything)  # the next call: all again
    cut = float(everything.scores[len(everything) // 2])
    kept = model.predict(arr, conf=cut)[0]
    assert 0 < len(kept) < len(everything) and float(kept.scores.min()) >= cut
    entries = everything.to_coco("x.png")
    assert len(entries) == len(everything) and entries[0]["image_id"] == "x.png"
    assert everything.class_names == [CLASSES[i] for i in everything.labels.tolist()]
    with pytest.raises(ValueError, match="conf must be in"):
        model.predict(arr, conf=2.0)
    with pytest.raises(ValueError, match="text: not an option of detect"):
        model.predict(arr, text="a circle")


def test_two_streams_on_one_model_keep_their_own_nms_iou(det_run):
    model = regionlab.load(det_run / "best.pt", batch_size=1)
    arrs = [_scene(3, 64)[:, :56], _scene(2, 64)[:, :56]]
    tight = [len(r) for r in model.predict(arrs, conf=0.0, iou=0.1)]
    loose = [len(r) for r in model.predict(arrs, conf=0.0, iou=0.9)]
    assert all(t < lo for t, lo in zip(tight, loose))  # the IoU matters on these images
    stream = model.stream(arrs, conf=0.0, iou=0.1)
    first = next(stream)
    model.predict(arrs, conf=0.0, iou=0.9)  # another call on the same model, in between
    assert [len(first), len(next(stream))] == tight


def test_the_cli_predicts_folders_and_videos_with_json_txt_and_video_out(det_run, tmp_path,
                                                                         capsys):  # fmt: skip
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(_scene(4, 48)).save(src / "a.png")
    (src / "notes.txt").write_text("x")
    write_video(tmp_path / "clip.avi", n=4, h=48, w=48)
    out = tmp_path / "out"
    args = ["predict", str(det_run / "best.pt"), str(src), str(tmp_path / "*.avi"), "--out",
            str(out), "--conf", "0", "--max-det", "5", "--save-txt"]  # fmt: skip
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "notes.txt" in text and "skipped 1" in text
    assert (out / "a_pred.png").exists() and (out / "clip_pred.mp4").exists()
    records = json.loads((out / "predictions.json").read_text())
    ids = {r["image_id"] for r in records}
    assert ids == {"a.png", "clip.avi#0", "clip.avi#1", "clip.avi#2", "clip.avi#3"}
    assert max(sum(r["image_id"] == i for r in records) for i in ids) == 5
    lines = (out / "labels" / "a.txt").read_text().splitlines()
    assert len(lines) == 5 and all(len(line.split()) == 6 for line in lines)
    assert len(list((out / "labels").glob("clip_*.txt"))) == 4
    import cv2

    cap = cv2.VideoCapture(str(out / "clip_pred.mp4"))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    assert n == 4
    assert not list(out.glob(".*.tmp*"))


def test_the_cli_writes_class_map_pngs_for_segmentation(seg_run, tmp_path, capsys):
    Image.fromarray(_scene(5, 32)).save(tmp_path / "s.png")
    out = tmp_path / "out"
    assert main(["predict", str(seg_run[0] / "best.pt"), str(tmp_path / "s.png"), "--out",
                 str(out)]) == 0  # fmt: skip
    cmap = np.asarray(Image.open(out / "s_classes.png"))
    assert cmap.shape == (32, 32) and cmap.max() < len(CLASSES)
    model = regionlab.load(seg_run[0] / "best.pt")
    assert np.array_equal(cmap, model.predict(tmp_path / "s.png")[0].class_map.numpy())
    assert not (out / "predictions.json").exists()
    assert main(["predict", str(seg_run[0] / "best.pt"), str(tmp_path / "s.png"), "--out",
                 str(out), "--save-txt"]) == 2  # fmt: skip
    assert "save_txt writes boxes" in capsys.readouterr().err
    assert not (out / "labels").exists()


def test_an_image_without_detections_is_an_empty_predictions_json(det_run, tmp_path):
    from regionlab.api.outputs import save_predictions

    model = regionlab.load(det_run / "best.pt", conf=1.0)
    saved = save_predictions(model, _scene(6, 48), tmp_path / "out")
    assert saved.images == 1 and not saved.skipped
    assert json.loads((tmp_path / "out" / "predictions.json").read_text()) == []
    assert (tmp_path / "out" / "image_00000_pred.png").exists()


def test_detector_limits_on_a_segmentation_model_are_refused(seg_run):
    with pytest.raises(ValueError, match="iou and max_det are for detect and instance"):
        regionlab.load(seg_run[0] / "best.pt", iou=0.5)
    model = regionlab.load(seg_run[0] / "best.pt")
    with pytest.raises(ValueError, match="conf, iou and max_det are for detect"):
        model.predict(_scene(0, 32), conf=0.5)


def test_same_named_inputs_never_replace_each_other_nor_an_earlier_run(det_run, tmp_path,
                                                                       capsys):  # fmt: skip
    for folder, i in (("a", 1), ("b", 2)):
        (tmp_path / folder).mkdir()
        Image.fromarray(_scene(i, 48)).save(tmp_path / folder / "x.png")
    out = tmp_path / "out"
    args = ["predict", str(det_run / "best.pt"), str(tmp_path / "a"), str(tmp_path / "b"),
            "--out", str(out), "--conf", "0", "--max-det", "3", "--save-txt"]  # fmt: skip
    assert main(args) == 0
    assert {p.name for p in out.glob("*_pred.png")} == {"x_pred.png", "x_2_pred.png"}
    assert {p.name for p in (out / "labels").iterdir()} == {"x.txt", "x_2.txt"}
    ids = {r["image_id"] for r in json.loads((out / "predictions.json").read_text())}
    assert ids == {"x.png", "x_2.png"}
    before = (out / "x_pred.png").read_bytes()
    capsys.readouterr()
    assert main(args) == 2  # a second run into the same folder is refused, nothing written
    assert "already holds" in capsys.readouterr().err
    assert (out / "x_pred.png").read_bytes() == before
    assert main([*args, "--exist-ok"]) == 0
