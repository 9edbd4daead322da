"""The regionlab command end to end on tiny jobs."""

import json
import shutil
import subprocess

import pytest

from regionlab.cli.main import main


def test_console_script_runs():
    exe = shutil.which("regionlab")
    assert exe, "the regionlab console script should be installed"
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True).stdout
    assert "demo" in out and "train" in out


def test_data_show_renders_pngs(tmp_path, capsys):
    assert main(["data", "show", "scenes:size=32,n=3", "--out", str(tmp_path), "--n", "2"]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["sample_000.png", "sample_001.png"]


def test_train_eval_predict(tmp_path, capsys):
    run = tmp_path / "run"
    args = [
        "train",
        "segment",
        "--data",
        "scenes:size=32,n=8",
        "--val",
        "scenes:size=32,n=4",
        "--widths",
        "8,16",
        "--epochs",
        "2",
        "--batch-size",
        "4",
        "--out",
        str(run),
        "--threads",
        "1",
        "--scale",
        "1",
        "1",
    ]
    assert main(args) == 0
    assert {"last.pt", "best.pt", "metrics.jsonl", "metrics.json", "learning_curve.png"} <= {
        p.name for p in run.iterdir()
    }
    capsys.readouterr()
    assert main(["eval", str(run / "best.pt"), "--data", "scenes:size=32,n=4"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert 0 <= metrics["miou"] <= 1
    # predict on an image file
    img = tmp_path / "scene.png"
    main(["data", "show", "scenes:size=32,n=1", "--out", str(tmp_path / "s"), "--n", "1"])
    shutil.copy(tmp_path / "s" / "sample_000.png", img)
    assert main(["predict", str(run / "best.pt"), str(img), "--out", str(tmp_path / "pred")]) == 0
    assert (tmp_path / "pred" / "scene_pred.png").exists()
    # a second train into the same folder must not overwrite it
    assert main(args) == 2
    assert "resume" in capsys.readouterr().err


def test_demo_writes_its_outputs(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--minutes", "0.05", "--size", "32", "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "metrics.json").read_text())
    assert 0 <= summary["final"]["miou"] <= 1
    assert (out / "learning_curve.png").exists()
    assert len(list((out / "predictions").glob("*.png"))) == 6
    text = capsys.readouterr().out
    assert "validation mIoU" in text and str(out) in text
    # running it again writes a new folder instead of overwriting
    assert main(["demo", "--minutes", "0.02", "--size", "32", "--out", str(out), "--quiet"]) == 0
    assert (tmp_path / "demo-1" / "metrics.json").exists()


@pytest.mark.parametrize(
    "spec, phrase",
    [
        ("nonsense:x", "unknown data spec"),
        ("coco:only_one_path", "takes 2 path"),
        ("voc:/no/such/dir", "/no/such/dir"),
        ("scenes:size=32,colour=red", "colour"),
    ],
)
def test_bad_specs_are_clear_errors(spec, phrase, capsys, tmp_path):
    assert main(["data", "show", spec, "--out", str(tmp_path)]) == 2
    assert phrase in capsys.readouterr().err


def test_unknown_config_key_is_reported(tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text('{"epocs": 2}')
    assert (
        main(
            [
                "train",
                "segment",
                "--data",
                "scenes:size=32,n=4",
                "--config",
                str(cfg),
                "--out",
                str(tmp_path / "r"),
            ]
        )
        == 2
    )
    assert "epocs" in capsys.readouterr().err


def test_colour_jitter_out_of_range_stops_before_training(tmp_path, capsys):
    argv = ["train", "segment", "--data", "scenes:size=32,n=8", "--epochs", "1", "--threads", "1",
            "--colour", "1.5", "--out", str(tmp_path / "run")]  # fmt: skip
    assert main(argv) == 2
    assert "--colour must be in [0, 1)" in capsys.readouterr().err
    assert not (tmp_path / "run" / "last.pt").exists()
