"""``regionlab export`` and ``regionlab predict`` on its files: the exported detector writes
the same predictions as its checkpoint; errors are one line naming the file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from test_export import TASKS, _model

from regionlab.cli.main import main
from regionlab.engine.checkpoint import RunCheckpoint

pytest.importorskip("onnxruntime")


def _checkpoint(tmp_path, name: str):
    task = TASKS[name]()
    path = tmp_path / name / "best.pt"
    path.parent.mkdir(parents=True)
    RunCheckpoint(task.name, task.spec_dict(), {}, _model(task).state_dict()).save(path)
    return path


def _photo(tmp_path):
    path = tmp_path / "photo.png"
    pixels = np.random.default_rng(0).integers(0, 256, (45, 53, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def test_exported_detector_predicts_what_its_checkpoint_predicts(tmp_path, capsys):
    ckpt, photo = _checkpoint(tmp_path, "grid"), _photo(tmp_path)
    assert main(["export", str(ckpt)]) == 0
    exported = ckpt.with_name("best.onnx")
    assert capsys.readouterr().out.strip() == str(exported)
    for source, out in ((ckpt, "eager"), (exported, "onnx")):
        assert main(["predict", str(source), str(photo), "--out", str(tmp_path / out)]) == 0
        assert (tmp_path / out / "photo_pred.png").is_file()
    eager = json.loads((tmp_path / "eager" / "predictions.json").read_text())
    onnx = json.loads((tmp_path / "onnx" / "predictions.json").read_text())
    assert len(eager) == len(onnx) > 0
    left = list(onnx)
    for a in eager:  # the same set (near-equal scores may sort either way)
        same = [b for b in left if b["category_id"] == a["category_id"]
                and np.allclose(a["bbox"], b["bbox"], atol=1e-3)
                and abs(a["score"] - b["score"]) < 1e-4]  # fmt: skip
        assert same, a
        left.remove(same[0])


def test_torchscript_export_at_another_size_predicts(tmp_path, capsys):
    ckpt, photo = _checkpoint(tmp_path, "segment"), _photo(tmp_path)
    out = tmp_path / "seg.torchscript.pt"
    assert main(["export", str(ckpt), "--format", "torchscript", "--size", "48x64",
                 "--out", str(out)]) == 0  # fmt: skip
    assert main(["predict", str(out), str(photo), "--out", str(tmp_path / "pred")]) == 0
    assert (tmp_path / "pred" / "photo_pred.png").is_file()


def test_errors_are_one_line(tmp_path, capsys):
    ckpt = _checkpoint(tmp_path, "segment")
    assert main(["export", str(ckpt)]) == 0
    capsys.readouterr()
    exported = str(ckpt.with_name("best.onnx"))
    assert main(["eval", exported, "--data", "scenes:n=2"]) == 2
    err = capsys.readouterr().err
    assert "is an exported model" in err and "Traceback" not in err
    assert main(["export", str(tmp_path / "missing.pt")]) == 2
    assert "missing.pt" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["export", str(ckpt), "--size", "big"])
    assert e.value.code == 2
    assert "expected HxW" in capsys.readouterr().err
