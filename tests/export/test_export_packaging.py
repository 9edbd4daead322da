"""The ``export`` extra: what ONNX export and onnxruntime need, also in ``dev`` (CI installs
``.[dev]`` and runs the parity tests)."""

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

META = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())


def test_export_is_an_extra_that_dev_also_installs():
    extras = META["project"]["optional-dependencies"]
    names = {d.split(">")[0] for d in extras["export"]}
    assert names == {"onnx", "onnxruntime"}
    assert set(extras["export"]) <= set(extras["dev"])
    assert not any(d.startswith("onnx") for d in META["project"]["dependencies"])


def test_importing_the_export_room_loads_neither_torch_nor_onnx():
    # torch and onnx are imported where they are used: the package itself costs nothing
    import subprocess
    import sys

    code = "import sys, regionlab.export; print('torch' in sys.modules, 'onnx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
