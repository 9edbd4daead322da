"""A tiny training job run by tests/engine/test_ddp.py, alone or under torchrun.

The model has no BatchNorm: per-process batch statistics are the one thing data parallelism
legitimately changes, and this job checks everything else (sharding, gradient averaging,
schedule, checkpoints written by rank 0 only).
"""

import atexit
import os
import sys

import torch.distributed as dist
from torch import nn

from regionlab.data.scenes import CLASSES, SceneConfig, SceneDataset
from regionlab.engine.config import TrainConfig
from regionlab.engine.trainer import fit
from regionlab.models.backbones import EncoderOutput
from regionlab.models.localization.builders import LocalizationSpec
from regionlab.models.localization.net import LocalizationNet
from regionlab.models.losses import MultiTaskLoss
from regionlab.models.segmentation.builders import SegmentationSpec
from regionlab.models.segmentation.output import SegmentationOutput, pixel_cross_entropy
from regionlab.tasks.localization import LocalizationTask
from regionlab.tasks.segmentation import SegmentationTask


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1))

    def forward(self, images, targets=None):
        logits = self.body(images)
        loss = pixel_cross_entropy(logits, targets) if targets is not None else None
        return SegmentationOutput(logits, loss)


class TinyTask(SegmentationTask):
    def build_model(self):
        return TinyNet()


class TinyEncoder(nn.Module):
    channels = (8,)

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU())

    def forward(self, x):
        return EncoderOutput([self.body(x)], [None])


class TinyLocTask(LocalizationTask):
    """Localization with learned (uncertainty) loss weights: they must stay in sync too."""

    def build_model(self):
        loss = MultiTaskLoss({"cls": "classification", "box": "regression"}, "uncertainty")
        return LocalizationNet(TinyEncoder(), 3, loss, pool=2, hidden=16)


def _report_group() -> None:
    # registered before the engine joins the group, so it runs after the engine's own exit
    # handler (last registered, first run): the group must be gone before teardown
    print(f"group left before teardown: {not dist.is_initialized()}", file=sys.stderr)


def main(out: str, batch_size: int, kind: str = "segment") -> None:
    if "WORLD_SIZE" in os.environ:
        atexit.register(_report_group)
    cfg_s = SceneConfig(size=24, max_objects=1 if kind == "localize" else 2)
    if kind == "localize":
        task = TinyLocTask(LocalizationSpec(3), (24, 24), CLASSES, crop=(0.5, 1.0))
    else:
        task = TinyTask(SegmentationSpec(4), (24, 24), CLASSES, scale=(1.0, 1.25))
    cfg = TrainConfig(
        epochs=2,
        batch_size=batch_size,
        eval_batch_size=4,
        lr=1e-2,
        progress=False,
        threads=1,
        channels_last=False,
        precision="fp32",  # the equivalence is fp32's: bf16 rounds each slice its own way
    )
    fit(
        task,
        SceneDataset(16, config=cfg_s),
        SceneDataset(4, split="val", config=cfg_s),
        cfg,
        out,
        log=lambda *_: None,
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), *sys.argv[3:])
