"""Every test starts with an empty remembered-step-count file of its own (a timed run's count
is remembered per setup on the machine: tests must not see each other's or the user's);
fixtures shared by a module or the session get one file for the session."""

from __future__ import annotations

import os

import pytest

VAR = "REGIONLAB_STEP_CACHE"


@pytest.fixture(autouse=True, scope="session")
def _session_step_counts(tmp_path_factory):
    before = os.environ.get(VAR)
    os.environ[VAR] = str(tmp_path_factory.mktemp("step_counts") / "step_counts.json")
    yield
    if before is None:
        os.environ.pop(VAR, None)
    else:
        os.environ[VAR] = before


@pytest.fixture(autouse=True)
def _own_step_counts(tmp_path, monkeypatch):
    monkeypatch.setenv(VAR, str(tmp_path / "step_counts.json"))
