"""The Autobahn|Testsuite's quick sections (1-7, 10) against our server and client.

The full suite, all eight combinations, is ``python compliance/run.py --all``
(over an hour, most of it in the compression sections 12 and 13); results are
in docs/topics/conformance.rst.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYTHON27 = Path("/root/.pyenv/versions/2.7.18/bin/python")


def _python27() -> str:
    if PYTHON27.exists():
        return str(PYTHON27)
    found = shutil.which("python2.7")
    if found is None:
        pytest.skip("the Autobahn testsuite needs Python 2.7, which this machine lacks")
    return found


def run_compliance(*args: str) -> str:
    """Run compliance/run.py with ``args``; the summary line of its results table."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "compliance" / "run.py"), *args, "--python27", _python27(), "--timeout", "600"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    summaries = [line for line in result.stdout.splitlines() if line.startswith("| all |")]
    assert summaries, result.stdout[-4000:]
    return summaries[0]


@pytest.mark.parametrize(
    "mode, backend, impl",
    [("server", "asyncio", "compiled"), ("client", "trio", "compiled"), ("server", "trio", "python")],
)
def test_autobahn_quick(mode: str, backend: str, impl: str) -> None:
    summary = run_compliance("--quick", "--mode", mode, "--backend", backend, "--impl", impl)
    failed = int(summary.strip("|").split("|")[-1])
    assert failed == 0, summary


def test_autobahn_compression_sample() -> None:
    """A sample of sections 12 and 13 (permessage-deflate): each window size and offer shape once."""
    cases = "12.1.1,12.2.3,12.5.1,13.1.1,13.2.1,13.3.1,13.4.1,13.5.1,13.6.1,13.7.1"
    summary = run_compliance("--cases", cases, "--mode", "server", "--backend", "asyncio", "--impl", "compiled")
    ok, non_strict, informational, unimplemented, failed = (int(n) for n in summary.strip("|").split("|")[1:])
    assert (ok, unimplemented, failed) == (len(cases.split(",")), 0, 0), summary
