"""Segmentation peers: torchvision's LR-ASPP (``tv-lraspp``, MobileNetV3-Large) and
segmentation-models-pytorch's U-Net (``smp-unet``, ResNet-18 encoder), no pretrained weights,
trained by our own loop on the comparison's train split as ``regionlab train segment`` with
default flags trains ours: the same input size, augmentation, batch, learning rate, budget
and loss (pixel cross-entropy with the same class weights and Dice term; a peer gets every
choice our default makes, so a gap is the network's). Only the network differs.

It chooses nothing on the report split (the tune split is its validation, as for our runs)
and is scored on the report images by our task's own evaluator, at the same size as ours.
``smp-unet`` needs the ``bench`` extra; its input is padded to a multiple of 32 (its encoder's
stride) and the logits cropped back.
"""

from __future__ import annotations

import time
from dataclasses import replace

from regionlab.comparison.peers import (
    PREDICTIONS,
    PeerJob,
    PeerResult,
    model_facts,
    timed_predictions,
)


def peer_network(net, class_weights, dice: float, multiple: int = 1):
    """``net`` (images -> logits, or ``{"out": logits}``) behind our segmentation models'
    call: ``(images float (N, 3, H, W) in [0, 1], targets (N, H, W) or None)`` ->
    :class:`~regionlab.models.segmentation.output.SegmentationOutput` with our loss."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    from regionlab.models.backbones import Normalize
    from regionlab.models.segmentation.output import SegmentationOutput, segmentation_loss

    class PeerNetwork(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net, self.normalize, self.dice = net, Normalize(), dice
            weights = None if class_weights is None else torch.tensor(class_weights)
            self.register_buffer("class_weights", weights, persistent=False)

        def forward(self, images, targets=None):
            h, w = images.shape[-2:]
            x = self.normalize(images)
            x = F.pad(x, (0, -w % multiple, 0, -h % multiple))
            out = self.net(x)
            logits = (out["out"] if isinstance(out, dict) else out)[..., :h, :w]
            loss = None
            if targets is not None:
                loss = segmentation_loss(logits, targets, self.class_weights, self.dice)
            return SegmentationOutput(logits, loss)

    return PeerNetwork()


def lraspp(num_classes: int):
    from torchvision.models.segmentation import lraspp_mobilenet_v3_large

    return lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=num_classes)


def smp_unet(num_classes: int):
    import segmentation_models_pytorch as smp

    return smp.Unet("resnet18", encoder_weights=None, classes=num_classes)


def default_segment_task(train, data: str, job: PeerJob):
    """The task and training config ``regionlab train segment --data DATA`` builds with
    default flags (and the job's seed, threads and budget): the same code path."""
    from regionlab.api.builders import builder
    from regionlab.api.training import build_task, train_options

    args = train_options("segment", data, minutes=job.minutes, seed=job.seed,
                         threads=job.threads)  # fmt: skip
    _, cfg, task, _ = build_task(builder("segment"), args, train)
    return task, replace(cfg, progress=False)


def predict_report(task, model, report, job: PeerJob) -> float | None:
    """Class maps of the report images, one at a time as ``task.predict`` makes ours, written
    to ``job.out/predictions.json`` for the report; returns the median ms per image."""
    from regionlab.eval.results_file import write_class_maps

    maps, ms = timed_predictions(len(report), lambda i: report[i].image.float()[None] / 255,
                                 lambda x: task.predict(model, x)[0])  # fmt: skip
    write_class_maps(job.out / PREDICTIONS, maps, job.report)
    return ms


class SegmentPeer:
    def __init__(self, name: str, make, multiple: int = 1) -> None:
        self.name, self.make, self.multiple = name, make, multiple

    def run(self, job: PeerJob) -> PeerResult:
        import torch

        from regionlab.api.specs import open_dataset
        from regionlab.engine.evaluation import evaluate
        from regionlab.engine.trainer import fit

        if job.minutes is None:
            raise ValueError(f"{self.name}: a peer needs a time budget (--minutes)")
        train = open_dataset(job.train)
        tune = open_dataset(job.tune, split="val")
        report = open_dataset(job.report, split="val")
        task, cfg = default_segment_task(train, job.train, job)
        spec, built = task.spec, []

        def build_model():  # the loop builds it; kept to be scored afterwards
            net = self.make(len(task.classes))
            built.append(peer_network(net, spec.class_weights, spec.dice, self.multiple))
            return built[-1]

        task.build_model = build_model
        t0 = time.perf_counter()
        res = fit(task, train, tune, cfg, job.out / "train", checkpoints=False,
                  log=lambda *a: None)  # fmt: skip
        metrics = evaluate(task, built[-1], report, cfg, torch.device("cpu"))
        facts = model_facts(built[-1], task.size)
        ms = predict_report(task, built[-1], report, job)
        notes = {"size": list(task.size), "batch_size": cfg.batch_size, "lr": cfg.lr,
                 "train_images": (res.steps or 0) * cfg.batch_size, "test_ms_per_image": ms,
                 "model": facts}  # fmt: skip
        return PeerResult([], res.seconds or time.perf_counter() - t0, res.steps, notes,
                          metrics=metrics)  # fmt: skip


LRASPP = SegmentPeer("tv-lraspp", lraspp)
SMP_UNET = SegmentPeer("smp-unet", smp_unet, multiple=32)
