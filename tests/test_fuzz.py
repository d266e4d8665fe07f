"""A bounded run of the atheris fuzz target (longer runs: see fuzz/fuzz_frames.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_fuzz_frame_reader_bounded() -> None:
    pytest.importorskip("atheris", reason="atheris is a test dependency on Linux: pip install '.[test]'")
    result = subprocess.run(
        [sys.executable, str(ROOT / "fuzz" / "fuzz_frames.py"), "-runs=30000", "-seed=1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done 30000 runs" in result.stderr
