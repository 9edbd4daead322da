"""The detection redesign's safety net: every detector and Mask R-CNN of commit fb4b248 (before
parts were composed), its weights and its spec as that version's checkpoints stored them, with
the losses (train and eval mode), the gradient mass and the best detections (boxes, labels,
scores, masks, keypoints) that code computed on two fixed scenes. Today's code reads the old
spec, loads the old weights and must give the same numbers.

The file was written by running, at fb4b248: each model built with ``torch.manual_seed(0)``,
its ``state_dict()`` saved, one train-mode forward with ``torch.Generator().manual_seed(1)``
(losses, then ``loss.backward()`` and the sum of ``|grad|``), one eval-mode forward with
``manual_seed(2)`` (losses, the first 4 detections of each image), one thread, on 48 px
scenes with models a few thousand weights small. Each state dict is stored packed (its keys,
shapes, and one float32 and one int64 tensor of all values) to keep the file under 1 MiB.
"""

import math
from pathlib import Path

import pytest
import torch

from regionlab.models.detection.specs import detector_spec_from_dict
from regionlab.ops.detections import Detections

RECORD = Path(__file__).parent / "data" / "detectors_fb4b248.pt"
_DATA = torch.load(RECORD, weights_only=True)
TOL = 1e-6
ROUNDING = 4 * torch.finfo(torch.float32).eps
pytestmark = pytest.mark.usefixtures("one_thread")


def _unpack(packed: dict) -> dict:
    """The state dict the old model had, from its packed form."""
    floats = iter(packed["floats"].split(_sizes(packed, True)))
    ints = iter(packed["ints"].split(_sizes(packed, False)))
    return {k: (next(floats) if f else next(ints)).view(shape)
            for k, shape, f in zip(packed["keys"], packed["shapes"], packed["floating"])}  # fmt: skip


def _sizes(packed: dict, floating: bool) -> list[int]:
    return [math.prod(s) for s, f in zip(packed["shapes"], packed["floating"]) if f == floating]


def _close(got: float, want: float) -> bool:
    return abs(got - want) <= TOL * max(1.0, abs(want))


@pytest.mark.parametrize("name", sorted(_DATA["cases"]))
def test_old_checkpoints_give_the_same_losses_and_detections(name):
    case = _DATA["cases"][name]
    images = _DATA["images"]
    targets = [Detections(**t) for t in _DATA["targets"]]
    model = detector_spec_from_dict(case["spec"]).build()
    model.load_state_dict(_unpack(case["state"]))

    out = model.train()(images, targets, generator=torch.Generator().manual_seed(1))
    assert set(out.losses) | {"total"} == set(case["train"])
    for k, want in case["train"].items():
        got = out.loss if k == "total" else out.losses[k]
        assert _close(float(got.detach()), want), (k, float(got), want)
    out.loss.backward()
    grad = sum(float(p.grad.abs().sum()) for p in model.parameters() if p.grad is not None)
    assert _close(grad, case["grad"]), (grad, case["grad"])

    model.eval()
    with torch.no_grad():
        out = model(images, targets, generator=torch.Generator().manual_seed(2))
        for k, want in case["eval"].items():
            assert _close(float(out.losses[k]), want), (k, float(out.losses[k]), want)
        assert [len(d) for d in out.detections] == case["ndet"]
        for det, want in zip(out.detections, case["dets"]):
            det = det[: len(want["boxes"])]
            for field, value in want.items():
                got = getattr(det, field)
                assert got is not None and got.shape == value.shape, field
                # a few float32 rounding steps of the value: another CPU's kernels round a
                # box corner near 40 px one step (1.9e-6) apart
                assert torch.allclose(got.double(), value.double(), atol=TOL, rtol=ROUNDING), field
