"""The peer row of ``benchmarks/efficiency.py``: Ultralytics YOLO26n's training step (from its
YAML, no weights, one class like our Penn-Fudan grid) on the very batch our grid trains on,
at the same threads: forward, Ultralytics' own loss (``model.loss``, with its default loss
gains), backward, AdamW. FLOPs are counted the same way (``FlopCounterMode`` over a whole
step), so the rows compare arithmetic and speed alike. Needs the ``bench`` extra.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

from regionlab.comparison.peer_yolo import offline

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import step_flop_counter  # noqa: E402


def yolo26n(threads: int, classes: int = 1):
    """YOLO26n's ``DetectionModel`` from its YAML (n scale), offline, ``classes`` classes."""
    offline(threads)
    from ultralytics.cfg import get_cfg
    from ultralytics.nn.tasks import DetectionModel, yaml_model_load

    cfg = yaml_model_load("yolo26n.yaml")
    model = DetectionModel(cfg, nc=classes, verbose=False)
    model.args = get_cfg()  # the trainer sets its hyperparameters (loss gains) this way
    return model.train()


def yolo_batch(images: torch.Tensor, targets) -> dict:
    """Our collated batch as Ultralytics' trainer feeds it: ``img (N, 3, S, S)`` in [0, 1],
    per object its image index, class (0-based) and ``xywh`` box normalised by the side."""
    n, _, h, w = images.shape
    idx, cls, boxes = [], [], []
    for i, t in enumerate(targets):
        b = t.boxes.float()
        xywh = torch.stack(((b[:, 0] + b[:, 2]) / 2 / w, (b[:, 1] + b[:, 3]) / 2 / h,
                            (b[:, 2] - b[:, 0]) / w, (b[:, 3] - b[:, 1]) / h), 1)  # fmt: skip
        idx.append(torch.full((len(b),), float(i)))
        cls.append((t.labels.float() - 1)[:, None])
        boxes.append(xywh)
    return {"img": images.float(), "batch_idx": torch.cat(idx), "cls": torch.cat(cls),
            "bboxes": torch.cat(boxes)}  # fmt: skip


def measure_yolo26n(images: torch.Tensor, targets, threads: int, steps: int) -> dict:
    """One YOLO26n training step on ``images`` (``float (N, 3, S, S)`` in [0, 1]) and their
    ``targets`` (:class:`~regionlab.ops.detections.Detections`, ``xyxy`` pixels, labels from 1):
    the same keys as ``efficiency.measure``."""
    torch.manual_seed(0)
    model = yolo26n(threads)
    batch = yolo_batch(images, targets)
    opt = torch.optim.AdamW(model.parameters(), 1e-4)

    def step() -> None:
        loss, _ = model.loss(batch)
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()  # (Ultralytics' trainer: the summed, batch-scaled items)
        opt.step()

    step()  # warm-up
    with step_flop_counter() as counter:
        step()
    flops = counter.get_total_flops()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    step_s = statistics.median(times)
    n = len(images)
    return {"task": "ultralytics yolo26n.yaml", "flags": [], "data": "the grid's batch",
            "batch_size": n, "params": sum(p.numel() for p in model.parameters()),
            "gflop_per_step": flops / 1e9, "step_s": step_s, "step_s_all": times,
            "gflop_per_s": flops / 1e9 / step_s, "img_per_s": n / step_s,
            "threads_seen": torch.get_num_threads()}  # fmt: skip
