"""The checkerboard measure and the cost helper of benchmarks/segmentation_cost.py."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from regionlab.models.segmentation.builders import SegmentationSpec, build_segmentation_model
from regionlab.ops.upsample import BedOfNails, NearestUnpool

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "segmentation_cost.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("segmentation_cost", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_constant_map_has_no_checkerboard(bench):
    assert bench.checkerboard(torch.full((3, 8, 8), 2.5)) == 0.0


def test_bed_of_nails_of_a_constant_is_purely_periodic(bench):
    # One phase is 1, three are 0. Phase means (1, 0, 0, 0): mean 1/4, variance
    # (3/4)^2/4 + 3 (1/4)^2/4 = 3/16. Over positions y is Bernoulli(1/4): variance 3/16. Ratio 1.
    y = BedOfNails()(torch.ones(1, 4, 8, 8))[0]
    assert bench.checkerboard(y) == pytest.approx(1.0, abs=1e-6)


def test_bed_of_nails_of_a_ramp_matches_hand_value(bench):
    # Values 1, 2, 3, 4 at phase (0, 0), twelve zeros. Phase means (5/2, 0, 0, 0): mean 5/8,
    # variance ((15/8)^2 + 3 (5/8)^2) / 4 = 75/64. Over the 16 positions: E[y^2] = 30/16,
    # variance 30/16 - (5/8)^2 = 95/64. Ratio 75/95 = 15/19.
    y = BedOfNails()(torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]]))[0]
    assert bench.checkerboard(y) == pytest.approx(15 / 19, rel=1e-5)


def test_nearest_unpool_of_random_input_has_equal_phase_means(bench):
    # Every phase class holds exactly the input's values, so all phase means are equal.
    y = NearestUnpool()(torch.randn(2, 5, 7, 9, generator=torch.Generator().manual_seed(0)))
    assert bench.checkerboard(y) == pytest.approx(0.0, abs=1e-6)


def test_random_noise_is_far_from_periodic(bench):
    y = torch.randn(4, 64, 64, generator=torch.Generator().manual_seed(1))
    assert bench.checkerboard(y) < 0.01


def test_odd_sizes_drop_the_incomplete_period(bench):
    y = BedOfNails()(torch.ones(1, 2, 5, 5))[0][:, :9, :9]  # 9x9: last row/column dropped
    assert bench.checkerboard(y) == pytest.approx(1.0, abs=1e-6)


def test_cost_counts_flops_and_ranks_the_patch_classifier_first(bench):
    torch.manual_seed(0)
    x = torch.rand(1, 3, 32, 32)
    rows = {
        arch: bench.cost(build_segmentation_model(SegmentationSpec(4, arch=arch)), x, 1, 0)
        for arch in ("patch", "fcn", "encdec")
    }
    for r in rows.values():
        assert r["flops"] > 0 and r["params"] > 0 and r["ms"] > 0
    # Full-resolution FCN (width 32, six 3x3 convs, 1x1 head to 4 classes), by hand: 2 FLOPs per
    # multiply-accumulate, per pixel 3*32*9 + 5*32*32*9 + 32*4 MACs, bias of the head ignored.
    assert rows["fcn"]["flops"] == 2 * (3 * 32 * 9 + 5 * 32 * 32 * 9 + 32 * 4) * 32 * 32
    # One patch pass per pixel: orders of magnitude more than either dense model. (With default
    # specs the narrow FCN is not dearer than the encoder-decoder, whose decoder dominates.)
    assert rows["patch"]["flops"] > 20 * max(rows["fcn"]["flops"], rows["encdec"]["flops"])
