"""pyproject.toml's dependencies: what a plain install gets, and what each extra adds."""

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

META = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
OPENCV = "opencv-contrib-python-headless>=4.8"


def test_selective_search_is_an_extra_that_dev_also_installs():
    extras = META["project"]["optional-dependencies"]
    assert extras["proposals"] == [OPENCV]
    assert OPENCV in extras["dev"]  # README's `pip install -e ".[dev]"` runs every test
    assert not any(d.startswith("opencv") for d in META["project"]["dependencies"])


def test_pyyaml_is_a_core_dependency():
    assert "pyyaml>=6" in META["project"]["dependencies"]  # --config cfg.yaml
