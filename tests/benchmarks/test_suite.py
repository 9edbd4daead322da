"""Every benchmark suite is a valid comparison: its entries parse and each run's flags are
ones ``regionlab train TASK`` takes (checked without data or training)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from regionlab.api.builders import builder
from regionlab.cli.compare import check_job
from regionlab.comparison.peers import KNOWN
from regionlab.comparison.plan import parse_models, plan_jobs

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from suite import SUITES  # noqa: E402


@pytest.mark.parametrize("name", sorted(SUITES))
def test_each_suite_plans_runs_that_train_accepts(name):
    s = SUITES[name]
    entries = parse_models(s.models, has_model="model" in builder(s.task).defaults)
    jobs = plan_jobs(s.task, entries, [0], train_spec="scenes", tune_spec="scenes",
                     runs=Path("/tmp/x"), threads=1, minutes=s.minutes,
                     flags=tuple(s.flags.split()))  # fmt: skip
    assert len(jobs) == len(entries) >= 2
    for job in jobs:
        check_job(job)
    if s.peers:
        assert s.minutes and check_peers_names(s.peers.split(","), s.task)


def check_peers_names(names: list[str], task: str) -> bool:
    """Every peer is known, trainable and of the suite's task (installed or not)."""
    return all(n in KNOWN and task in KNOWN[n].tasks and KNOWN[n].runner for n in names)
