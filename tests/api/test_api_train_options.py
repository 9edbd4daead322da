"""``regionlab.train`` takes the flags of ``regionlab train TASK`` by their Python names, with
the same defaults; anything else is refused by name."""

from __future__ import annotations

import argparse

import pytest

import regionlab
from regionlab.api.builders import BUILDERS
from regionlab.api.training import RUN_DEFAULTS, train_options
from regionlab.cli.common import add_budget_flags, add_data_flags, add_growth_flags
from regionlab.cli.main import build_parser
from regionlab.cli.tasks import TASKS


def _defaults(add) -> dict:
    p = argparse.ArgumentParser()
    add(p)
    return {a.dest: a.default for a in p._actions if a.dest != "help"}


@pytest.mark.parametrize("name", list(TASKS))
def test_each_familys_flags_are_the_api_options_with_the_same_defaults(name):
    assert _defaults(TASKS[name].add_flags) == BUILDERS[name].defaults


def test_the_mask_options_default_to_the_mask_head_s_own_defaults():
    # the flags cannot read MaskHeadSpec (help must not import torch): one more copy, checked
    from dataclasses import asdict

    from regionlab.models.detection.region_spec import MaskHeadSpec

    options = BUILDERS["instance"].defaults
    head = asdict(MaskHeadSpec())
    assert {k: options[f"mask_{k}"] for k in head} == head


def test_the_run_flags_are_the_api_run_options():
    def run_flags(p):
        add_data_flags(p, "x")
        add_budget_flags(p, {})
        add_growth_flags(p)

    flags = _defaults(run_flags)
    assert flags.pop("data") is None and flags.pop("out") == "runs/x"
    assert flags == {k: v for k, v in RUN_DEFAULTS.items() if k != "out"}


def test_the_cli_and_the_api_build_the_same_options():
    args = build_parser().parse_args(["train", "segment", "--data", "scenes", "--kernel", "4"])
    flags = {k: v for k, v in vars(args).items() if k not in ("func", "command", "task", "data")}
    assert vars(train_options("segment", "scenes", **flags)) == vars(
        train_options("segment", "scenes", kernel=4)
    )


def test_unknown_options_and_tasks_are_refused_by_name():
    with pytest.raises(ValueError, match="unknown option.*kernal"):
        regionlab.train("segment", data="scenes", kernal=3)
    with pytest.raises(ValueError, match="unknown task 'segmnt'"):
        regionlab.train("segmnt", data="scenes")


def test_a_side_is_a_square_where_the_family_takes_height_and_width():
    assert train_options("segment", "scenes", size=40).size == (40, 40)
    assert train_options("detect", "scenes", size=40).size == 40
    assert train_options("detect", "scenes").out == "runs/detect"
