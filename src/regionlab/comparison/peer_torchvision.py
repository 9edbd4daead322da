"""The ``tv-frcnn`` peer: torchvision's Faster R-CNN (MobileNetV3-Large FPN, 320 px, no
pretrained weights) trained by our own loop on the comparison's train split, choosing nothing
on the report split, and predicting the report images.

torchvision computes losses in training mode and detections in eval mode, one or the other;
:class:`TorchvisionFasterRCNN` puts it behind our detectors' call (``model(images, targets)``
-> ``DetectionOutput``), with a ``nan`` evaluation loss. Its training is our ``DetectionTask``'s
(letterbox to ``SIZE``, same augmentation), so only the network differs.
"""

from __future__ import annotations

import time

from regionlab.comparison.peers import PeerJob, PeerResult, model_facts, timed_predictions

SIZE = 320
BATCH = 8
LR = 1e-3


def build(num_classes: int):
    """The peer network for ``num_classes`` object classes (labels ``1..C``)."""
    import torch
    from torch import nn
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_320_fpn

    from regionlab.models.detection.output import DetectionOutput
    from regionlab.ops.detections import Detections

    class TorchvisionFasterRCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = fasterrcnn_mobilenet_v3_large_320_fpn(
                weights=None, weights_backbone=None, num_classes=num_classes + 1,
                box_score_thresh=0.001, box_detections_per_img=100,
            )  # fmt: skip

        def forward(self, images, targets=None, generator=None):
            imgs = list(images)
            if self.training:
                tv = [{"boxes": t.boxes[~t.iscrowd], "labels": t.labels[~t.iscrowd]}
                      for t in targets]  # fmt: skip
                losses = self.net(imgs, tv)
                return DetectionOutput.from_detections([], loss=sum(losses.values()),
                                                       losses=losses)  # fmt: skip
            dets = [Detections(o["boxes"], o["labels"], o["scores"]) for o in self.net(imgs)]
            return DetectionOutput.from_detections(dets, loss=torch.tensor(float("nan")))

    return TorchvisionFasterRCNN()


class TorchvisionPeer:
    def run(self, job: PeerJob) -> PeerResult:
        import torch

        from regionlab.api.prepare import classes_of
        from regionlab.api.specs import open_dataset
        from regionlab.engine.config import TrainConfig
        from regionlab.engine.trainer import fit
        from regionlab.models.detection.specs import GridSpec
        from regionlab.tasks.detection import DetectionTask

        train = open_dataset(job.train)
        tune = open_dataset(job.tune, split="val")
        report = open_dataset(job.report, split="val")
        classes = classes_of(train)
        built = []

        class PeerTask(DetectionTask):
            def build_model(self):  # the loop builds it; we keep it to predict afterwards
                built.append(build(len(self.classes) - 1))
                return built[-1]

        task = PeerTask(GridSpec(len(classes) - 1), SIZE, classes)
        cfg = TrainConfig(epochs=None if job.minutes else 10, minutes=job.minutes,
                          batch_size=BATCH, lr=LR, seed=job.seed, threads=job.threads,
                          progress=False)  # fmt: skip
        t0 = time.perf_counter()
        res = fit(task, train, tune, cfg, job.out / "train", checkpoints=False,
                  log=lambda *a: None)  # fmt: skip
        model = built[-1].eval()
        facts = model_facts(model, (SIZE, SIZE))
        with torch.inference_mode():
            preds, ms = timed_predictions(len(report),
                                          lambda i: report[i].image[None].float().div(255),
                                          lambda x: task.predict(model, x)[0])  # fmt: skip
        notes = {"train_images": (res.steps or 0) * BATCH, "test_ms_per_image": ms,
                 "model": facts}  # fmt: skip
        return PeerResult(preds, res.seconds or time.perf_counter() - t0, res.steps, notes)


PEER = TorchvisionPeer()
