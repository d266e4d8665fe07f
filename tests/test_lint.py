"""The tree passes ruff's checks and is formatted, as ``[tool.ruff]`` in pyproject.toml says.

Run by the default test run so that a change that breaks either is caught
with the rest; ``ruff check --fix .`` and ``ruff format .`` repair most of it.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def ruff_command() -> list[str]:
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("a check of the source tree; these tests run without it")
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    found = shutil.which("ruff")
    if found is None:
        pytest.skip("ruff is not installed (it is a test dependency: pip install '.[test]')")
    return [found]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ruff_command(), *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_check() -> None:
    result = run("check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format() -> None:
    result = run("format", "--check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr
