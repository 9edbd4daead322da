"""Peers: models from other libraries (the ``bench`` extra: Ultralytics YOLO, torchvision's
Faster R-CNN recipe, segmentation-models-pytorch) trained beside ours in a comparison.

The seam, :class:`Peer`: a peer trains on the comparison's *train* split (choosing what it
chooses on the *tune* split only), with the same threads and minutes as every other run, and
returns its predictions on the *report* images; our task's own evaluator scores them, so a
peer's numbers mean what ours mean. A peer's run lives in ``DIR/runs/<peer>-s<seed>`` like any
other and writes ``scores.json`` in the same format (:mod:`regionlab.comparison.score`).

Each peer runs as its own process (:mod:`regionlab.comparison.peer_run`), like a ``train``:
``tv-frcnn`` (torchvision's Faster R-CNN, MobileNetV3-FPN at 320 px, no pretrained weights,
trained by our loop), ``yolo26n`` and ``yolov8n`` (Ultralytics, from their YAML, their own
recipe; the ``bench`` extra: an ``ImportError`` saying ``pip install -e ".[bench]"`` when it is
missing); ``tv-lraspp`` (torchvision's LR-ASPP) and ``smp-unet`` (the bench extra's U-Net),
segmentation networks trained by our loop (:mod:`regionlab.comparison.peer_segment`).
No torch at import.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

INSTALL = 'pip install -e ".[bench]"'
# a peer's predictions of the report images (regionlab.eval.results_file), for the report
PREDICTIONS = "predictions.json"


@dataclass(frozen=True)
class PeerJob:
    """One peer run: data specs of the comparison's splits, its budget and where to write."""

    task: str
    train: str
    tune: str
    report: str
    seed: int
    minutes: float | None
    threads: int
    out: Path


@dataclass
class PeerResult:
    """What a peer's run gives back: one prediction per report image, in the report split's
    order and in each image's pixels, in the task's ``task.predict`` format (detection:
    ``Detections``, labels indexing the data's classes); its training seconds and steps."""

    predictions: list
    seconds: float
    steps: int | None = None
    notes: dict = field(default_factory=dict)  # more facts for metrics.json (e.g. epochs)
    # the report split's metrics where the peer was scored by our task's evaluator itself
    # (a peer trained by our loop: predictions then stay empty)
    metrics: dict | None = None


class Peer(Protocol):
    def run(self, job: PeerJob) -> PeerResult:
        """Train on ``job.train`` (choosing anything only on ``job.tune``) with ``job.threads``
        threads for ``job.minutes``, writing only under ``job.out``; predict the report
        images."""


@dataclass(frozen=True)
class KnownPeer:
    """A peer by name: its tasks, the module of the extra it needs, and its ``Peer`` as
    ``"module:attribute"`` (``None``: not trainable through the seam yet)."""

    name: str
    tasks: tuple[str, ...]
    module: str
    runner: str | None = None


KNOWN: dict[str, KnownPeer] = {
    p.name: p
    for p in (
        KnownPeer("yolo26n", ("detect",), "ultralytics", "regionlab.comparison.peer_yolo:YOLO26N"),
        KnownPeer("yolov8n", ("detect",), "ultralytics", "regionlab.comparison.peer_yolo:YOLOV8N"),
        KnownPeer("tv-frcnn", ("detect",), "torchvision",
                  "regionlab.comparison.peer_torchvision:PEER"),
        KnownPeer("yolo26n-seg", ("instance",), "ultralytics",
                  "regionlab.comparison.peer_yolo:YOLO26N_SEG"),
        KnownPeer("yolov8n-seg", ("instance",), "ultralytics",
                  "regionlab.comparison.peer_yolo:YOLOV8N_SEG"),
        KnownPeer("tv-lraspp", ("segment",), "torchvision",
                  "regionlab.comparison.peer_segment:LRASPP"),
        KnownPeer("smp-unet", ("segment",), "segmentation_models_pytorch",
                  "regionlab.comparison.peer_segment:SMP_UNET"),
    )
}  # fmt: skip


def model_facts(net, size: tuple[int, int]) -> dict:
    """``run.json``'s ``model`` of a peer network: parameters, and GFLOPs of one forward of a
    ``size`` ``(H, W)`` image (``FlopCounterMode``, a multiply-add two FLOPs, as our runs count
    theirs; here an inference forward on a copy, so the trained model is left as it is)."""
    import copy

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    m = copy.deepcopy(net).float().eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        m(torch.zeros(1, 3, *size))
    return {"parameters": sum(p.numel() for p in net.parameters()),
            "gflops_per_image": round(counter.get_total_flops() / 1e9, 6),
            "input": [3, *size]}  # fmt: skip


def timed_predictions(n: int, load, predict) -> tuple[list, float | None]:
    """``predict(load(i))`` for ``i`` in ``0..n-1``, one image at a time, and the median
    milliseconds of a ``predict`` (``load`` untimed; image 0 is predicted once more first,
    untimed, so caches are warm), ``None`` for no images."""
    import statistics
    import time

    if n:
        predict(load(0))
    out, times = [], []
    for i in range(n):
        x = load(i)
        t = time.perf_counter()
        out.append(predict(x))
        times.append(time.perf_counter() - t)
    return out, round(statistics.median(times) * 1000, 3) if times else None


def load_peer(name: str) -> Peer:
    """The trainable peer ``name``."""
    import importlib

    known = KNOWN.get(name)
    if known is None or known.runner is None:
        raise ValueError(f"peer {name!r} cannot be trained through compare")
    module, attr = known.runner.split(":")
    return getattr(importlib.import_module(module), attr)


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def check_peers(names: list[str], task: str) -> list[KnownPeer]:
    """The peers ``names`` for ``task``; errors (all before any training) for an unknown name,
    a peer of another task, or a missing extra (``ImportError`` naming the install command)."""
    peers = []
    for name in names:
        peer = KNOWN.get(name)
        if peer is None:
            raise ValueError(f"--peers: unknown peer {name!r}; known: {', '.join(KNOWN)}")
        if task not in peer.tasks:
            raise ValueError(f"--peers: {name} is a {'/'.join(peer.tasks)} peer, not {task}")
        if not installed(peer.module):
            raise ImportError(
                f"--peers {name} needs {peer.module}, from the bench extra: {INSTALL}"
            )
        if peer.runner is None:
            raise ValueError(
                f"--peers {name}: training it through compare is not written yet (the seam: "
                "regionlab.comparison.peers.Peer)"
            )
        peers.append(peer)
    return peers
