"""Peers: models from other libraries (the ``bench`` extra: Ultralytics YOLO, torchvision's
Faster R-CNN recipe, segmentation-models-pytorch) trained beside ours in a comparison.

The seam, :class:`Peer`: a peer trains on the comparison's *train* split (choosing what it
chooses on the *tune* split only), with the same threads and minutes as every other run, and
returns its predictions on the *report* images; our task's own evaluator scores them, so a
peer's numbers mean what ours mean. A peer's run lives in ``DIR/runs/<peer>-s<seed>`` like any
other and writes ``scores.json`` in the same format (:mod:`regionlab.comparison.score`).

Today this module names the peers and checks, before anything trains, that the extra they need
is installed (an ``ImportError`` saying ``pip install -e ".[bench]"`` when not); their
training through the seam is not written yet, so naming an installed one is an error saying so.
No torch at import.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

INSTALL = 'pip install -e ".[bench]"'


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


class Peer(Protocol):
    name: str
    tasks: tuple[str, ...]  # the comparison tasks it can join
    module: str  # the Python module of the extra it needs

    def run(self, job: PeerJob) -> list:
        """Train as ``job`` says and return one prediction per report image, in the order of
        the report split, in the task's ``task.predict`` format (detection: ``Detections``),
        for the task's evaluator to score."""


@dataclass(frozen=True)
class KnownPeer:
    """A peer by name, not yet trainable through the seam."""

    name: str
    tasks: tuple[str, ...]
    module: str


KNOWN: dict[str, KnownPeer] = {
    p.name: p
    for p in (
        KnownPeer("yolo26n", ("detect",), "ultralytics"),
        KnownPeer("yolov8n", ("detect",), "ultralytics"),
        KnownPeer("tv-frcnn", ("detect",), "torchvision"),
        KnownPeer("smp-unet", ("segment",), "segmentation_models_pytorch"),
    )
}


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
        peers.append(peer)
    if peers:
        raise ValueError(
            f"--peers {', '.join(p.name for p in peers)}: training peers through compare is "
            "not implemented yet (the seam is regionlab.comparison.peers.Peer); run "
            "benchmarks/detection.py for the YOLO and torchvision peers meanwhile"
        )
    return peers
