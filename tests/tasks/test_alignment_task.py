"""Alignment as a task: region sources, nouns tied to their objects on scenes, a model that
learns to match and align a few scenes, and the CLI's train, eval and predict --text."""

from __future__ import annotations

import json

import pytest
import torch

from regionlab.cli.main import main
from regionlab.data.captions import Vocabulary, tokenize
from regionlab.data.scenes import SceneConfig, SceneDataset
from regionlab.engine.config import TrainConfig
from regionlab.engine.trainer import fit
from regionlab.models.alignment.model import AlignSpec
from regionlab.tasks.alignment import AlignTask, grid_boxes

SCENES = SceneConfig(size=48, max_objects=2)


def _task(data, regions="grid", **kw) -> AlignTask:
    vocab = Vocabulary.build([c for i in range(len(data)) for c in data[i].captions])
    spec = AlignSpec(len(vocab), widths=[8, 16, 32], embed=16, hidden=48, **kw)
    nouns = [c for c in data.classes if c != "background"]
    return AlignTask(spec, (48, 48), vocab.to_dict(), regions, nouns=nouns)


def test_grid_windows_cover_the_image_at_three_scales():
    b = grid_boxes((60, 90))
    assert b.shape == (22, 4)
    assert float(b[:, 0].min()) == 0 and float(b[:, 2].max()) == pytest.approx(90)
    assert float(b[:, 1].min()) == 0 and float(b[:, 3].max()) == pytest.approx(60)
    widths = sorted({round(float(w), 3) for w in b[:, 2] - b[:, 0]})
    assert widths == [30.0, 45.0, 60.0]


def test_each_scene_noun_points_at_the_object_it_names():
    data = SceneDataset(6, config=SceneConfig(size=48, max_objects=3))
    task = _task(data, regions="gt")
    item = task.transform(False)(data[2], None)
    s = data[2]
    words = tokenize(s.captions[0])
    (nouns,) = item.nouns
    assert len(nouns) == len(s.labels)
    for t, box in nouns:
        # the box given for noun t is that of an object whose class is the noun
        k = [i for i in range(len(s.boxes)) if torch.equal(s.boxes[i], box[0])][0]
        assert data.classes[int(s.labels[k])] == words[t]
    # regions: the whole image first, then the ground truth
    assert item.boxes[0].tolist() == [0.0, 0.0, 48.0, 48.0]
    assert torch.equal(item.boxes[1:], s.boxes)


def _cfg(**kw) -> TrainConfig:
    base = dict(batch_size=8, lr=3e-3, progress=False, threads=1, eval_every=1000,
                weight_decay=0.0)  # fmt: skip
    return TrainConfig(**{**base, **kw})


def test_alignment_overfits_the_retrieval_of_a_few_scenes(tmp_path):
    data = SceneDataset(8, config=SCENES)
    res = fit(_task(data, regions="gt"), data, data, _cfg(epochs=60), tmp_path,
              log=lambda *_: None)  # fmt: skip
    assert res.metrics["i2t_R@1"] == 1.0 and res.metrics["t2i_R@1"] == 1.0, res.metrics


def test_alignment_accuracy_on_a_hand_made_case():
    # one image, regions: whole image, a box on object A, a box on object B
    data = SceneDataset(2, config=SCENES)
    task = _task(data)
    boxes = [torch.tensor([[0.0, 0, 48, 48], [0.0, 0, 10, 10], [30.0, 30, 40, 40]])]
    v = torch.eye(3)[None]  # region i's vector is e_i
    vm = torch.ones(1, 3, dtype=torch.bool)
    # sentence of 3 words; word 0 picks region 1, word 1 the whole image, word 2 region 2
    words = [torch.tensor([[0.0, 1, 0], [1.0, 0, 0], [0.0, 0, 1]])]
    a, b = torch.tensor([[0.0, 0, 10, 10]]), torch.tensor([[30.0, 30, 40, 40]])
    nouns = [[(0, a), (1, b), (2, a)]]  # hit, miss (whole image), miss (wrong object)
    m = task._alignment(v, vm, boxes, words, [0], nouns)
    assert m["align_acc"] == pytest.approx(1 / 3) and m["align_nouns"] == 3
    assert m["chance_align_acc"] == pytest.approx(1 / 3)  # one region of three fits each noun


def test_cli_align_train_eval_predict(tmp_path, capsys):
    from PIL import Image

    run = tmp_path / "run"
    args = ["train", "align", "--data", "scenes:size=32,n=12", "--val", "scenes:size=32,n=6",
            "--epochs", "1", "--batch-size", "4", "--hidden", "32", "--widths", "8,16,32",
            "--threads", "1", "--out", str(run)]  # fmt: skip
    assert main(args) == 0
    out = tmp_path / "metrics.json"
    assert (
        main(["eval", str(run / "best.pt"), "--data", "scenes:size=32,n=6", "--out", str(out)]) == 0
    )
    metrics = json.loads(out.read_text())
    assert {"i2t_R@1", "t2i_R@5", "i2t_med_r", "mean_R", "chance_t2i_R@1", "align_acc"} <= set(
        metrics
    )
    picture = tmp_path / "p.png"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(picture)
    pred = ["predict", str(run / "best.pt"), str(picture), "--out", str(tmp_path / "o")]
    capsys.readouterr()
    assert main(pred) == 2
    assert "give --text" in capsys.readouterr().err
    assert main([*pred, "--text", "a red circle"]) == 0
    assert (tmp_path / "o" / "p_pred.png").is_file()
    (rec,) = json.loads((tmp_path / "o" / "predictions.json").read_text())
    assert [w["word"] for w in rec["words"]] == ["a", "red", "circle"]
    assert len(rec["boxes"]) == 23  # the whole image and the 22 grid windows


def test_a_bad_region_source_fails_before_training(tmp_path, capsys):
    args = ["train", "align", "--data", "scenes:size=32,n=4", "--epochs", "1",
            "--regions", "boxes", "--out", str(tmp_path / "r")]  # fmt: skip
    assert main(args) == 2
    assert "unknown region source 'boxes'" in capsys.readouterr().err
    assert not (tmp_path / "r" / "last.pt").exists()


def test_a_detector_checkpoint_is_a_region_source(tmp_path):
    det = tmp_path / "det"
    assert main(["train", "detect", "--data", "scenes:size=32,n=4", "--epochs", "1",
                 "--batch-size", "2", "--threads", "1", "--out", str(det)]) == 0  # fmt: skip
    data = SceneDataset(3, config=SceneConfig(size=32))
    vocab = Vocabulary.build([data[i].captions[0] for i in range(3)])
    task = AlignTask(AlignSpec(len(vocab)), (32, 32), vocab.to_dict(),
                     f"detector:{det / 'last.pt'}", top=5)  # fmt: skip
    boxes = task.boxes_for(data[0])
    assert 1 <= len(boxes) <= 6 and boxes[0].tolist() == [0.0, 0.0, 32.0, 32.0]
    cap = tmp_path / "cap"
    assert main(["train", "align", "--data", "scenes:size=32,n=4", "--epochs", "1",
                 "--batch-size", "2", "--threads", "1", "--out", str(cap)]) == 0  # fmt: skip
    not_a_detector = AlignTask(AlignSpec(len(vocab)), (32, 32), vocab.to_dict(),
                               f"detector:{cap / 'last.pt'}")  # fmt: skip
    with pytest.raises(ValueError, match="needs a detect checkpoint"):
        not_a_detector.source()
