"""Single-person pose metrics: PCK (percentage of correct keypoints) and strict PCP.

Shapes: ``pred``/``gt`` ``(N, K, 2)`` pixel coordinates, ``labelled`` ``bool (N, K)`` (ground
truth that exists, e.g. ``keypoints[..., 2] > 0``). Unlabelled joints never count, right or wrong.
Joint indices below are LSP's 14 (:data:`regionlab.data.lsp.LSP_JOINTS`), repeated here because
``eval/`` imports no reader.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

# LSP-14 indices used by the helpers.
R_HIP, L_HIP, R_SHOULDER, L_SHOULDER, NECK, HEAD_TOP = 2, 3, 8, 9, 12, 13

Endpoint = int | tuple[int, ...]  # a joint, or the midpoint of several


class Stick(NamedTuple):
    name: str
    part: str
    a: Endpoint
    b: Endpoint


# The 10 sticks of the LSP PCP protocol (Johnson & Everingham; Eichner et al., IJCV 2012).
LSP_PCP_STICKS = (
    Stick("head", "head", NECK, HEAD_TOP),
    Stick("torso", "torso", NECK, (R_HIP, L_HIP)),
    Stick("right upper arm", "upper arm", 8, 7),
    Stick("left upper arm", "upper arm", 9, 10),
    Stick("right lower arm", "lower arm", 7, 6),
    Stick("left lower arm", "lower arm", 10, 11),
    Stick("right upper leg", "upper leg", 2, 1),
    Stick("left upper leg", "upper leg", 3, 4),
    Stick("right lower leg", "lower leg", 1, 0),
    Stick("left lower leg", "lower leg", 4, 5),
)


def _check(pred: torch.Tensor, gt: torch.Tensor, labelled: torch.Tensor) -> None:
    if pred.shape != gt.shape or gt.ndim != 3 or gt.shape[-1] != 2:
        raise ValueError(
            f"pred {tuple(pred.shape)} and gt {tuple(gt.shape)} must both be (N, K, 2)"
        )
    if labelled.shape != gt.shape[:2]:
        raise ValueError(f"labelled {tuple(labelled.shape)} must be (N, K) = {tuple(gt.shape[:2])}")


def torso_diameter(gt: torch.Tensor, labelled: torch.Tensor) -> torch.Tensor:
    """``(N,)`` distance from the left shoulder (9) to the right hip (2) of LSP-14 ground truth.

    This is the torso reference of PCK on LSP as evaluated by the Convolutional Pose Machines
    code (Wei et al., CVPR 2016, ``eval_pck.m``: ``norm(gt(:,10) - gt(:,3))``, 1-based), which
    later LSP results follow; it descends from DeepPose's "percent of detected joints" relative
    to the torso diameter (Toshev & Szegedy, CVPR 2014).

    LSP-extended leaves joints it could not see without coordinates (about 30 % of its people
    lack the left shoulder or right hip), so where that diagonal is missing the other one
    (right shoulder (8) to left hip (3)) is used. It is 0 where both are missing, so :func:`pck`
    leaves that instance out (and counts it).
    """
    gt = gt.double()
    d1 = (gt[:, L_SHOULDER] - gt[:, R_HIP]).norm(dim=-1)
    d2 = (gt[:, R_SHOULDER] - gt[:, L_HIP]).norm(dim=-1)
    ok1 = labelled[:, L_SHOULDER] & labelled[:, R_HIP]
    ok2 = labelled[:, R_SHOULDER] & labelled[:, L_HIP]
    return torch.where(ok1, d1, torch.where(ok2, d2, torch.zeros_like(d1)))


def box_size(boxes: torch.Tensor) -> torch.Tensor:
    """``(N,)`` ``max(w, h)`` of ``xyxy`` boxes, the PCK reference of Yang & Ramanan (PAMI 2013)."""
    wh = (boxes[:, 2:] - boxes[:, :2]).double()
    return wh.max(dim=-1).values


def pck(
    pred: torch.Tensor,
    gt: torch.Tensor,
    labelled: torch.Tensor,
    ref: torch.Tensor,
    alpha: float = 0.2,
) -> dict:
    """PCK@``alpha``: a labelled joint is correct when ``||pred - gt|| <= alpha * ref``.

    ``ref`` ``(N,)`` is each instance's reference length (:func:`torso_diameter`,
    :func:`box_size`). Instances with ``ref <= 0`` (or NaN) have no scale and are left out.

    Returns ``{"pck": fraction over all counted joints, "per_joint": [K fractions] (NaN where a
    joint is never labelled), "joints": number counted, "excluded": instances left out}``.
    """
    _check(pred, gt, labelled)
    ref = ref.double()
    keep = ref > 0
    counted = labelled.bool() & keep[:, None]
    dist = (pred.double() - gt.double()).norm(dim=-1)
    hit = (dist <= alpha * ref[:, None]) & counted
    per_n, per_hit = counted.sum(0), hit.sum(0)
    total = int(per_n.sum())
    return {
        "pck": int(per_hit.sum()) / total if total else math.nan,
        "per_joint": [int(h) / int(n) if n else math.nan for h, n in zip(per_hit, per_n)],
        "joints": total,
        "excluded": int((~keep).sum()),
    }


def _endpoint(x: torch.Tensor, lab: torch.Tensor, e: Endpoint) -> tuple[torch.Tensor, torch.Tensor]:
    idx = [e] if isinstance(e, int) else list(e)
    return x[:, idx].mean(dim=1), lab[:, idx].all(dim=1)


def pcp(
    pred: torch.Tensor,
    gt: torch.Tensor,
    labelled: torch.Tensor,
    sticks: tuple[Stick, ...] = LSP_PCP_STICKS,
) -> dict:
    """Strict PCP: a stick is correct when *both* predicted endpoints lie within half the
    ground-truth stick length of their true endpoints (``<=``), as in Eichner et al. (IJCV 2012).

    An endpoint may be a tuple of joints, standing for their midpoint (LSP's torso ends at the
    middle of the hips); it is labelled when all of them are. Sticks with an unlabelled endpoint
    are skipped. Returns ``{"mean": fraction over all counted sticks (the "Total"/"Mean" column
    of LSP tables), "parts": {part: fraction} (NaN when none counted), "sticks": {name:
    fraction}, "counted": sticks counted}``.
    """
    _check(pred, gt, labelled)
    pred, gt, labelled = pred.double(), gt.double(), labelled.bool()
    hits: dict[str, tuple[int, int]] = {}
    for s in sticks:
        ga, la = _endpoint(gt, labelled, s.a)
        gb, lb = _endpoint(gt, labelled, s.b)
        pa, _ = _endpoint(pred, labelled, s.a)
        pb, _ = _endpoint(pred, labelled, s.b)
        half = 0.5 * (ga - gb).norm(dim=-1)
        ok = ((pa - ga).norm(dim=-1) <= half) & ((pb - gb).norm(dim=-1) <= half)
        valid = la & lb
        hits[s.name] = (int((ok & valid).sum()), int(valid.sum()))

    def rate(names: list[str]) -> float:
        h, n = sum(hits[x][0] for x in names), sum(hits[x][1] for x in names)
        return h / n if n else math.nan

    parts = list(dict.fromkeys(s.part for s in sticks))
    return {
        "mean": rate([s.name for s in sticks]),
        "parts": {p: rate([s.name for s in sticks if s.part == p]) for p in parts},
        "sticks": {s.name: rate([s.name]) for s in sticks},
        "counted": sum(n for _, n in hits.values()),
    }
