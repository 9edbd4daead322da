"""Growing a network mid-training (Net2Net / Network Morphism) vs not growing vs starting large.

For each dataset, three runs with the same wall-clock training budget:

- ``small``: the small encoder-decoder only;
- ``grown``: the small one, grown function-preservingly at about half of its budget
  (``--grow`` schedule: wider encoder stages and a deeper bottleneck stage);
- ``large``: the grown architecture trained from scratch (same shape, random initialisation).

Then, from the small run's final weights, the validation loss right after growth:
function-preserving (should equal the loss before) vs the same growth with randomly
initialised new units (old units' weights copied, new ones random: what growing without
Net2Net does).

    python benchmarks/growth.py                    # scenes 2 min + CamVid 4 min per run, ~25 min
    python benchmarks/growth.py --only scenes --scenes-minutes 0.5

Writes benchmarks/results/growth.json and growth_<dataset>.png (val mIoU vs training seconds).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATASETS, RESULTS, save, val_curve  # noqa: E402

from regionlab.data.masks import CAMVID_CLASSES, camvid  # noqa: E402
from regionlab.data.scenes import CLASSES, SceneConfig, SceneDataset  # noqa: E402
from regionlab.engine import growing  # noqa: E402
from regionlab.engine.checkpoint import load_checkpoint  # noqa: E402
from regionlab.engine.config import TrainConfig  # noqa: E402
from regionlab.engine.trainer import evaluate, fit  # noqa: E402
from regionlab.models.segmentation.builders import SegmentationSpec  # noqa: E402
from regionlab.tasks.segmentation import SegmentationTask, median_frequency_weights  # noqa: E402
from regionlab.viz.plots import compare_curves  # noqa: E402

SCHEDULE = (
    "wider(encoder.stages.1,2x); wider(encoder.stages.2,2x); "
    "wider(encoder.stages.3,2x); deeper(encoder.stages.3)"
)


def schedule_at(epoch: int) -> str:
    return "; ".join(f"epoch={epoch}:{op.strip()}" for op in SCHEDULE.split(";"))


class LargeTask(SegmentationTask):
    """The grown architecture, randomly initialised: the 'train the big net from scratch' run."""

    def __init__(self, base: SegmentationTask, grow: str) -> None:
        super().__init__(base.spec, base.size, base.classes, base.scale)
        self.grow = grow

    def spec_dict(self) -> dict:
        return {**super().spec_dict(), "variant": "large", "grow": self.grow}

    def build_model(self) -> nn.Module:
        model = super().build_model()
        steps = growing.schedule(self.grow)
        growing.apply_steps(model, steps, 0, len(steps), seed=0)
        for m in model.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
        return model


def random_new_units(small: nn.Module, grown: nn.Module) -> nn.Module:
    """``grown``'s architecture with random weights, the small model's weights copied into the
    leading slice of every tensor that existed before: growth without function preservation."""
    out = copy.deepcopy(grown)
    for m in out.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    old = small.state_dict()
    state = out.state_dict()
    for k, v in state.items():
        if k in old and old[k].dim() == v.dim():
            idx = tuple(slice(0, n) for n in old[k].shape)
            v[idx] = old[k]
    out.load_state_dict(state)
    return out


def val_loss(task, model, val, cfg) -> float:
    return float(evaluate(task, model, val, cfg, torch.device("cpu"))["loss"])


def bench(
    name: str,
    task: SegmentationTask,
    train,
    val,
    cfg: TrainConfig,
    tmp: Path,
    morphism_noise: float = 0.0,
) -> dict:
    res: dict = {}
    small = fit(task, train, val, cfg, tmp / "small", log=lambda *_: None)
    epochs = small.steps // max(1, len(train) // cfg.batch_size)
    grow_epoch = max(1, epochs // 2)
    grow = schedule_at(grow_epoch)
    res["small"] = {
        "miou": small.metrics["miou"],
        "steps": small.steps,
        "params": sum(p.numel() for p in task.build_model().parameters()),
    }
    grown_cfg = TrainConfig(**{**cfg.to_dict(), "grow": grow})
    grown = fit(task, train, val, grown_cfg, tmp / "grown", log=lambda *_: None)
    ckpt = load_checkpoint(tmp / "grown" / "last.pt")
    grown_model = growing.model_from_checkpoint(task, ckpt)
    res["grown"] = {
        "miou": grown.metrics["miou"],
        "steps": grown.steps,
        "grow": grow,
        "params": sum(p.numel() for p in grown_model.parameters()),
    }
    if morphism_noise:
        # Network Morphism: new units copy incoming weights plus noise, outgoing weights zero,
        # so growth stays exact while the new units can diverge from the old ones.
        m_cfg = TrainConfig(
            **{**cfg.to_dict(), "grow": grow, "grow_mode": "morphism", "grow_noise": morphism_noise}
        )
        m_run = fit(task, train, val, m_cfg, tmp / "grown_morphism", log=lambda *_: None)
        res["grown_morphism"] = {
            "miou": m_run.metrics["miou"],
            "steps": m_run.steps,
            "grow": grow,
            "noise": morphism_noise,
        }
    large_task = LargeTask(task, schedule_at(0))
    large = fit(large_task, train, val, cfg, tmp / "large", log=lambda *_: None)
    res["large"] = {
        "miou": large.metrics["miou"],
        "steps": large.steps,
        "params": sum(p.numel() for p in large_task.build_model().parameters()),
    }

    # Loss right after growth, from the small run's final weights.
    small_model = growing.model_from_checkpoint(task, load_checkpoint(tmp / "small" / "last.pt"))
    before = val_loss(task, small_model, val, cfg)
    preserved = copy.deepcopy(small_model)
    steps = growing.schedule(schedule_at(0))
    growing.apply_steps(preserved, steps, 0, len(steps), seed=cfg.seed)
    res["loss_after_growth"] = {
        "before": before,
        "function_preserving": val_loss(task, preserved, val, cfg),
        "random_new_units": val_loss(task, random_new_units(small_model, preserved), val, cfg),
    }
    compare_curves(
        {k: val_curve(tmp / k, "miou") for k in ("small", "grown", "large")},
        RESULTS / f"growth_{name}.png",
        xlabel="training seconds",
        ylabel="validation mIoU",
        title=f"growth on {name}",
    )
    print(name, json.dumps(res, indent=1), flush=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenes-minutes", type=float, default=2.0)
    ap.add_argument("--camvid-minutes", type=float, default=4.0)
    ap.add_argument("--only", nargs="*", default=["scenes", "camvid"])
    ap.add_argument(
        "--morphism-noise",
        type=float,
        default=0.0,
        help="also run growth in Network Morphism mode with this noise (0: skip)",
    )
    ap.add_argument("--tag", default="", help="suffix of the results file name")
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = {"schedule": SCHEDULE}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if "scenes" in args.only:
            cfg_s = SceneConfig(size=64)
            tr, va = SceneDataset(1000, config=cfg_s), SceneDataset(200, split="val", config=cfg_s)
            spec = SegmentationSpec(
                4,
                widths=[8, 16, 32, 64],
                upsampler="transposed",
                kernel=2,
                class_weights=median_frequency_weights(tr, 4),
                dice=1.0,
            )
            task = SegmentationTask(spec, (64, 64), CLASSES, scale=(1.0, 1.0))
            cfg = TrainConfig(
                epochs=None, minutes=args.scenes_minutes, batch_size=16, lr=2e-3, progress=False
            )
            results["scenes"] = bench(
                "scenes" + args.tag, task, tr, va, cfg, tmp / "scenes", args.morphism_noise
            )
        root = DATASETS / "camvid"
        if "camvid" in args.only and root.exists():
            tr, va = camvid(root / "train.txt"), camvid(root / "val.txt")
            spec = SegmentationSpec(
                11,
                widths=[12, 24, 48, 96],
                upsampler="transposed",
                kernel=2,
                class_weights=median_frequency_weights(tr, 11),
                dice=1.0,
            )
            task = SegmentationTask(spec, (240, 320), CAMVID_CLASSES)
            cfg = TrainConfig(
                epochs=None,
                minutes=args.camvid_minutes,
                batch_size=8,
                lr=2e-3,
                eval_every=3,
                progress=False,
            )
            results["camvid"] = bench(
                "camvid" + args.tag, task, tr, va, cfg, tmp / "camvid", args.morphism_noise
            )
    save("growth" + args.tag, results)


if __name__ == "__main__":
    main()
