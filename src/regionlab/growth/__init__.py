"""Grow live networks without changing what they compute (Net2Net, Network Morphism).

Every operation works in place on any ``nn.Module`` by dotted module names, optionally remapping
an optimizer's parameters and state so training continues; it knows no task.

- :func:`widen` / :func:`widen_block`: more output units (channels/features) for a layer;
- :func:`deepen`: insert an identity-initialised or zero-residual layer;
- :func:`widen_kernel`: larger conv kernels;
- :func:`remap_optimizer` / :func:`add_params`: optimizer-state surgery;
- :func:`verify`: float64 comparison of a model before and after growth;
- :func:`parse_schedule` / :func:`apply_step`: text schedules such as
  ``"epoch=3:wider(encoder.stages.1,2x); epoch=6:deeper(encoder.stages.2)"``.
"""

from regionlab.growth.deeper import DeepenRecord, Residual, deepen
from regionlab.growth.errors import GrowthError
from regionlab.growth.kernel import KernelRecord, widen_kernel
from regionlab.growth.mapping import AxisRemap, UnitMapping, make_mapping
from regionlab.growth.optim import ParamChange, add_params, remap_optimizer
from regionlab.growth.schedule import GrowthStep, apply_step, parse_schedule
from regionlab.growth.verify import verify
from regionlab.growth.wider import Consumer, GrowthRecord, widen, widen_block

__all__ = [
    "AxisRemap",
    "Consumer",
    "DeepenRecord",
    "GrowthError",
    "GrowthRecord",
    "GrowthStep",
    "KernelRecord",
    "ParamChange",
    "Residual",
    "UnitMapping",
    "add_params",
    "apply_step",
    "deepen",
    "make_mapping",
    "parse_schedule",
    "remap_optimizer",
    "verify",
    "widen",
    "widen_block",
    "widen_kernel",
]
