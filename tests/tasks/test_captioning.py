"""Captioning as a task: the captioner overfits a few scenes, beam 1 is greedy, a run resumes
bit-identically, the vocabulary travels in the checkpoint, and the CLI trains, evaluates and
predicts."""

from __future__ import annotations

import json

import pytest
import torch
from crash import CrashAt

from regionlab.cli.main import main
from regionlab.data.captions import Vocabulary
from regionlab.data.scenes import SceneConfig, SceneDataset
from regionlab.engine.checkpoint import load_checkpoint
from regionlab.engine.config import TrainConfig
from regionlab.engine.trainer import fit
from regionlab.models.captioning.captioner import CaptionSpec, beam_search
from regionlab.tasks.captioning import CaptionTask

SCENES = SceneConfig(size=32, max_objects=2)


def _task(data, **kw) -> CaptionTask:
    vocab = Vocabulary.build([c for i in range(len(data)) for c in data[i].captions])
    spec = CaptionSpec(len(vocab), widths=[8, 16, 32], embed=32, hidden=64, **kw)
    return CaptionTask(spec, (32, 32), vocab.to_dict())


def _cfg(**kw) -> TrainConfig:
    base = dict(batch_size=6, lr=5e-3, progress=False, threads=1, eval_every=1000,
                weight_decay=0.0)  # fmt: skip
    return TrainConfig(**{**base, **kw})


@pytest.mark.parametrize("image_input", ["bias", "first"])
def test_captioner_overfits_a_few_scenes(tmp_path, image_input):
    torch.manual_seed(0)
    data = SceneDataset(6, config=SCENES)
    task = _task(data, image_input=image_input)
    res = fit(task, data, data, _cfg(epochs=150), tmp_path, log=lambda *_: None)
    assert res.metrics["BLEU-4"] > 0.9, res.metrics


@pytest.mark.parametrize("cell", ["lstm", "rnn_tanh", "gru"])
def test_beam_of_width_one_is_greedy(cell):
    torch.manual_seed(0)
    data = SceneDataset(3, config=SCENES)
    model = _task(data, cell=cell).build_model().eval()
    images = torch.stack([data[i].image for i in range(3)]).float() / 255
    greedy = model.generate(images, beam=1, max_len=8)
    v = model.encode(images)
    with torch.no_grad():
        beam1 = [beam_search(model, v[i : i + 1], 1, 8) for i in range(3)]
        beam3 = [beam_search(model, v[i : i + 1], 3, 8) for i in range(3)]
    assert greedy == beam1
    assert all(len(b) <= 8 for b in beam3)


def test_a_caption_run_resumes_bit_identically(tmp_path):
    data = SceneDataset(8, config=SCENES)
    cfg = _cfg(epochs=3, batch_size=2, checkpoint_every=3)
    fit(_task(data), data, None, cfg, tmp_path / "full", log=lambda *_: None)
    with pytest.raises(KeyboardInterrupt):
        fit(CrashAt(_task(data), 8), data, None, cfg, tmp_path / "cut", log=lambda *_: None)
    fit(_task(data), data, None, cfg, tmp_path / "cut", resume=True, log=lambda *_: None)
    a = load_checkpoint(tmp_path / "full" / "last.pt")["model"]
    b = load_checkpoint(tmp_path / "cut" / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_cli_caption_train_eval_predict(tmp_path, capsys):
    from PIL import Image

    run = tmp_path / "run"
    args = ["train", "caption", "--data", "scenes:size=32,n=12", "--val", "scenes:size=32,n=4",
            "--epochs", "2", "--batch-size", "4", "--hidden", "32", "--widths", "8,16",
            "--threads", "1", "--out", str(run)]  # fmt: skip
    assert main(args) == 0
    vocab = Vocabulary.from_dict(load_checkpoint(run / "best.pt")["spec"]["vocab"])
    assert "circle" in vocab  # the vocabulary travels in the checkpoint
    capsys.readouterr()
    out = tmp_path / "metrics.json"
    assert (
        main(["eval", str(run / "best.pt"), "--data", "scenes:size=32,n=4", "--out", str(out)]) == 0
    )
    metrics = json.loads(out.read_text())
    assert {"BLEU-1", "BLEU-4", "CIDEr-D", "loss"} <= set(metrics)
    beam = tmp_path / "beam.json"
    ev = ["eval", str(run / "best.pt"), "--data", "scenes:size=32,n=4"]
    assert main([*ev, "--beam", "3", "--out", str(beam)]) == 0
    assert {"BLEU-4", "CIDEr-D"} <= set(json.loads(beam.read_text()))
    assert main([*ev, "--beam", "0"]) == 2
    picture = tmp_path / "p.png"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(picture)
    assert main(["predict", str(run / "best.pt"), str(picture), "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "p_pred.png").is_file()
    records = json.loads((tmp_path / "o" / "predictions.json").read_text())
    assert isinstance(records[0]["caption"], str)
