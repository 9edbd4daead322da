"""``train localize``, ``train keypoints`` and ``tune loss-weight`` end to end on tiny jobs."""

import json
import sys
from pathlib import Path

import pytest
from PIL import Image

from regionlab.cli.main import main

ONE = "scenes:size=32,n={n},max_objects=1"
TINY = ["--widths", "8,16", "--batch-size", "4", "--threads", "1"]


@pytest.mark.parametrize("task,metric", [("localize", "loc_acc"), ("keypoints", "pck")])
def test_train_eval_predict(tmp_path, capsys, task, metric):
    run = tmp_path / "run"
    args = ["train", task, "--data", ONE.format(n=8), "--val", ONE.format(n=4)]
    args += ["--epochs", "1", "--out", str(run), "--loss-weighting", "gradnorm", *TINY]
    assert main(args) == 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").open()]
    train_rows = [r for r in rows if r["split"] == "train"]
    assert train_rows and all(k.startswith(("w_", "loss_")) for k in train_rows[0] if "_" in k)
    assert sum(v for k, v in train_rows[-1].items() if k.startswith("w_")) == pytest.approx(2.0)
    capsys.readouterr()
    assert main(["eval", str(run / "best.pt"), "--data", ONE.format(n=4)]) == 0
    assert 0 <= json.loads(capsys.readouterr().out)[metric] <= 1
    img = tmp_path / "photo.png"
    Image.new("RGB", (50, 40), (90, 120, 30)).save(img)
    assert main(["predict", str(run / "best.pt"), str(img), "--out", str(tmp_path / "p")]) == 0
    pic = Image.open(tmp_path / "p" / "photo_pred.png")
    if task == "localize":  # the photo at its own size, with a class legend strip under it
        assert pic.width >= 50 and pic.height > 40
        assert pic.convert("RGB").getpixel((0, 39)) == (90, 120, 30)
    else:
        assert pic.size == (50, 40)


def test_keypoints_need_a_dataset_with_keypoints(tmp_path, capsys):
    sys.path.insert(0, str(Path(__file__).parents[1] / "data"))
    from fixtures import make_voc

    root = make_voc(tmp_path)
    args = ["train", "keypoints", "--data", f"voc:{root}", "--epochs", "1", *TINY]
    assert main(args + ["--out", str(tmp_path / "r")]) == 2
    assert "has no keypoints" in capsys.readouterr().err


def test_tune_loss_weight_writes_table_plot_and_choice(tmp_path, capsys):
    out = tmp_path / "tune"
    args = ["tune", "loss-weight", "localize", "--data", ONE.format(n=8)]
    args += ["--weights", "0.3,3", "--folds", "2", "--epochs", "1", "--out", str(out), *TINY]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "chosen lambda (best mean loc_acc)" in text and "would pick" in text
    assert {"tune.json", "tune.md", "tune.png"} <= {p.name for p in out.iterdir()}
    assert (out / "lambda=3" / "fold1" / "learning_curve.png").exists()
    assert not list(out.rglob("*.pt"))
    assert json.loads((out / "tune.json").read_text())["chosen"] in (0.3, 3.0)
    assert main(args[: -len(TINY)] + TINY + ["--loss-weighting", "uncertainty"]) == 2
    assert "fixed lambda" in capsys.readouterr().err


@pytest.mark.parametrize("weights", ["1,1.0", "0,1", "-1", ""])
def test_tune_rejects_bad_weight_lists_before_training(tmp_path, capsys, weights):
    args = ["tune", "loss-weight", "localize", "--data", ONE.format(n=8)]
    args += ["--weights", weights, "--epochs", "1", "--out", str(tmp_path / "t"), *TINY]
    assert main(args) == 2
    assert "distinct positive numbers" in capsys.readouterr().err
    assert not (tmp_path / "t").exists()
