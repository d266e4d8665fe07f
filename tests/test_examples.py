"""The example programs (which the documentation includes) run and say what they should."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "script, expected",
    [
        ("quickstart.py", ["echoed: hello", "closed with 1000"]),
        ("legacy_0x.py", ["0.x code ran unchanged on asyncio", "0.x code ran unchanged on trio"]),
        ("filter_and_tls.py", ["welcome, you speak chat.v2", "rejected: 404 no such endpoint"]),
        ("demo.py", ["compiled speedups:", "[asyncio] closed with code 1000", "[trio] closed with code 1000"]),
    ],
)
def test_example(script: str, expected: list[str]) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script)], capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stderr
    for line in expected:
        assert line in result.stdout
