"""Every module of the package imports on its own, in any order: no import cycle hides behind
the order in which the package happens to be imported elsewhere."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import regionlab

ROOT = Path(regionlab.__file__).resolve().parent


def _modules(path: Path, prefix: str) -> list[str]:
    """Every module under ``path``, found on disk without importing anything."""
    out = []
    for info in pkgutil.iter_modules([str(path)]):
        name = prefix + info.name
        if info.name == "__main__":  # running it is what it does
            continue
        out.append(name)
        if info.ispkg:
            out += _modules(path / info.name, name + ".")
    return out


MODULES = ["regionlab", *_modules(ROOT, "regionlab.")]

# One interpreter: torch and the other libraries load once; before each module every
# `regionlab` entry of sys.modules is dropped, so each is imported from scratch (an import
# cycle depends only on the order of the package's own imports).
_SCRIPT = """
import importlib, json, sys, traceback
sys.path.insert(0, sys.argv[1])
result = {}
for name in json.loads(sys.argv[2]):
    for key in [k for k in sys.modules if k == "regionlab" or k.startswith("regionlab.")]:
        del sys.modules[key]
    try:
        importlib.import_module(name)
        result[name] = ""
    except BaseException:
        result[name] = traceback.format_exc(limit=-3)
print(json.dumps(result))
"""


@pytest.fixture(scope="session")
def fresh_imports() -> dict[str, str]:
    """Module name -> the traceback of its fresh import ("" when it imported)."""
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(ROOT.parent), json.dumps(MODULES)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_package_has_its_modules():
    assert {"regionlab.cli.main", "regionlab.cli.detect", "regionlab.engine.trainer"} <= set(
        MODULES
    )


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_on_its_own(module, fresh_imports):
    assert fresh_imports[module] == "", fresh_imports[module]


def test_no_module_outside_the_cli_imports_it():
    import ast

    offenders = []
    for path in ROOT.rglob("*.py"):
        if path.parent.name == "cli" or path.name == "__main__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names
                          if n == "regionlab.cli" or n.startswith("regionlab.cli.")]  # fmt: skip
    assert not offenders


def test_the_package_doc_names_every_cli_module():
    doc = (ROOT / "ARCHITECTURE.md").read_text()
    missing = [p.name for p in (ROOT / "cli").glob("*.py")
               if p.name != "__init__.py" and f"`{p.name}`" not in doc]  # fmt: skip
    assert not missing, f"add them to the cli table of src/regionlab/ARCHITECTURE.md: {missing}"
