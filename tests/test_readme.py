"""README holds exactly the install, main-job and test commands, and .ci/run uses them."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_commands_and_ci_agree():
    text = (ROOT / "README.md").read_text()
    block = text.split("```bash", 1)[1].split("```", 1)[0].strip().splitlines()
    assert block == ['pip install -e ".[dev]"', "regionlab demo", "pytest"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'pip install -q -e ".[dev]"' in ci
    assert "python -m pytest" in ci


def test_console_script_is_declared():
    assert 'regionlab = "regionlab.cli.main:main"' in (ROOT / "pyproject.toml").read_text()
