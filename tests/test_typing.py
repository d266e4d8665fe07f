"""The package type-checks under mypy --strict (it ships py.typed), and so does typed code that uses it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_strict_clean() -> None:
    pytest.importorskip("mypy", reason="mypy is a test dependency: pip install '.[test]'")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "asyncwebsockets", "tests/typed_usage.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
