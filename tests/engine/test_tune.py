"""Loss-weight tuning by k-fold cross-validation of a metric."""

import json

import pytest
import torch
from torch import nn

from regionlab.data.scenes import SceneConfig, SceneDataset
from regionlab.engine.config import TrainConfig
from regionlab.engine.task import StepOutput
from regionlab.engine.tune import cross_validate, kfold


def test_kfold_holds_every_sample_out_once():
    splits = kfold(10, 3, seed=1)
    held = sorted(i for _, va in splits for i in va)
    assert held == list(range(10))
    for tr, va in splits:
        assert not set(tr) & set(va) and len(tr) + len(va) == 10
    assert sorted(len(va) for _, va in splits) == [3, 3, 4]
    with pytest.raises(ValueError, match="cannot be split"):
        kfold(2, 3)
    with pytest.raises(ValueError, match="at least 2"):
        kfold(10, 1)


class TradeOffTask:
    """A constructed case where loss and metric disagree.

    One shared parameter theta; task A wants theta = 1, task B theta = 3. Training minimises
    ``(theta - 1)^2 + lambda (theta - 3)^2``, whose optimum is ``(1 + 3 lambda) / (1 + lambda)``.
    The user's metric is ``-|theta - 2.5|``: best at lambda = 3 (theta = 2.5). The loss at the
    optimum is ``4 lambda / (1 + lambda)``, smallest for the smallest lambda.
    """

    name = "tradeoff"
    main_metric = "closeness"

    def __init__(self, weight: float) -> None:
        self.weight = weight

    def spec_dict(self) -> dict:
        return {"weight": self.weight}

    def build_model(self) -> nn.Module:
        m = nn.Module()
        m.theta = nn.Parameter(torch.zeros(()))
        return m

    def transform(self, train: bool):
        return lambda sample, gen=None: 0

    def collate(self, items):
        return len(items)

    def _loss(self, model):
        t = model.theta
        return (t - 1) ** 2 + self.weight * (t - 3) ** 2

    def step(self, model, batch, device) -> StepOutput:
        return StepOutput(self._loss(model))

    def evaluate_batch(self, model, batch, device) -> dict:
        return {"closeness": -abs(float(model.theta) - 2.5), "loss": float(self._loss(model))}

    def summarize(self, parts) -> dict:
        return parts[-1]


def test_tuner_picks_the_metric_best_weight_not_the_loss_best(tmp_path):
    data = SceneDataset(6, config=SceneConfig(size=16))
    cfg = TrainConfig(
        epochs=40, batch_size=1, optimizer="sgd", lr=0.02, warmup=0.0, eval_every=40,
        progress=False, weight_decay=0.0, grad_clip=None, threads=1,
    )  # fmt: skip
    weights = [0.1, 0.3, 1.0, 3.0, 10.0]
    res = cross_validate(
        TradeOffTask, data, weights, 3, cfg, tmp_path / "tune", "closeness", log=lambda m: None
    )
    assert res.chosen == 3.0
    assert res.chosen_by_loss == 0.1
    best = next(r for r in res.rows if r.weight == 3.0)
    assert best.metric_mean == pytest.approx(0.0, abs=1e-3) and best.metric_std < 1e-3
    saved = json.loads((tmp_path / "tune" / "tune.json").read_text())
    assert saved["chosen"] == 3.0 and len(saved["rows"]) == 5
    table = (tmp_path / "tune" / "tune.md").read_text()
    assert "| 3 (chosen) |" in table and "| 0.1 (loss pick) |" in table
    # Every (lambda, fold) run kept its own folder with its metrics, and no checkpoint (15 runs
    # would leave 30); an existing output is never overwritten.
    fold = tmp_path / "tune" / "lambda=3" / "fold2"
    assert (fold / "metrics.jsonl").exists()
    assert not list((tmp_path / "tune").rglob("*.pt"))
    with pytest.raises(FileExistsError):
        cross_validate(TradeOffTask, data, weights, 3, cfg, tmp_path / "tune", "closeness")


def test_tuner_keeps_checkpoints_on_request(tmp_path):
    data = SceneDataset(4, config=SceneConfig(size=16))
    cfg = TrainConfig(epochs=1, batch_size=1, progress=False, threads=1)
    cross_validate(
        TradeOffTask, data, [1.0], 2, cfg, tmp_path / "t", "closeness", log=print,
        keep_checkpoints=True,
    )  # fmt: skip
    assert (tmp_path / "t" / "lambda=1" / "fold1" / "last.pt").exists()


def test_unknown_metric_is_a_clear_error(tmp_path):
    data = SceneDataset(4, config=SceneConfig(size=16))
    cfg = TrainConfig(epochs=1, batch_size=1, progress=False, threads=1)
    with pytest.raises(ValueError, match="metric 'map' not among"):
        cross_validate(TradeOffTask, data, [1.0], 2, cfg, tmp_path / "t", "map", log=print)
