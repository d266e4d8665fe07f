"""The CI workflows are valid YAML and cover every Python the package claims.

What we claim is in pyproject.toml: ``requires-python`` and the
``Programming Language :: Python :: 3.X`` classifiers.  The test workflow
must run the suite on each of those versions with both codecs, and the
wheel workflow must build wheels for each (and for the free-threaded
builds) on every platform we publish for.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml", reason="PyYAML is in the test extra")
if sys.version_info >= (3, 11):
    import tomllib
else:
    tomllib = pytest.importorskip("tomli", reason="tomli is in the test extra for Python 3.10")

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict) and "jobs" in data, name
    # YAML 1.1 reads the key `on` as the boolean True.
    assert "on" in data or True in data, f"{name} has no trigger"
    return data


def claimed_versions() -> list[str]:
    """The 3.X versions of the classifiers, in order."""
    found = []
    for classifier in PYPROJECT["project"]["classifiers"]:
        match = re.fullmatch(r"Programming Language :: Python :: (3\.\d+)", classifier)
        if match:
            found.append(match.group(1))
    return sorted(found, key=lambda v: tuple(map(int, v.split("."))))


def free_threaded_claimed() -> bool:
    return any(
        c.startswith("Programming Language :: Python :: Free Threading") for c in PYPROJECT["project"]["classifiers"]
    )


def cp(version: str) -> str:
    return "cp" + version.replace(".", "")


def test_claims_agree_with_requires_python() -> None:
    versions = claimed_versions()
    assert versions, "no per-version classifiers"
    match = re.fullmatch(r">=\s*(3\.\d+)", PYPROJECT["project"]["requires-python"])
    assert match, PYPROJECT["project"]["requires-python"]
    assert versions[0] == match.group(1), "the oldest classifier is not the requires-python minimum"
    # No gaps between the oldest and the newest.
    minors = [int(v.split(".")[1]) for v in versions]
    assert minors == list(range(minors[0], minors[-1] + 1)), versions


def test_test_workflow_runs_every_claimed_python_with_both_codecs() -> None:
    job = load("tests.yml")["jobs"]["test"]
    matrix = job["strategy"]["matrix"]
    assert [str(v) for v in matrix["python"]] == claimed_versions()
    assert set(matrix["codec"]) == {"compiled", "pure"}
    run = " ".join(str(step.get("run", "")) for step in job["steps"])
    assert "pytest" in run


def test_test_workflow_runs_free_threaded_builds() -> None:
    if not free_threaded_claimed():
        pytest.skip("free threading not claimed")
    job = load("tests.yml")["jobs"]["free-threaded"]
    pythons = {str(v) for v in job["strategy"]["matrix"]["python"]}
    assert pythons == {"3.13t", "3.14t"}
    run = " ".join(str(step.get("run", "")) for step in job["steps"])
    assert "tests/test_threads.py" in run


def wheel_targets() -> set[str]:
    wanted = {cp(v) for v in claimed_versions()}
    if free_threaded_claimed():
        # Free-threaded builds exist from 3.13 on.
        wanted |= {cp(v) + "t" for v in claimed_versions() if tuple(map(int, v.split("."))) >= (3, 13)}
    return wanted


def test_wheel_workflow_builds_every_claimed_python_everywhere() -> None:
    workflow = load("wheels.yml")
    job = workflow["jobs"]["wheels"]
    matrix = job["strategy"]["matrix"]
    assert set(matrix["python"]) == wheel_targets()
    systems = matrix["os"]
    assert any(s.startswith("ubuntu") and "arm" not in s for s in systems), "no Linux x86-64"
    assert any(s.startswith("ubuntu") and "arm" in s for s in systems), "no Linux aarch64"
    assert any(s.startswith("macos") and "intel" in s for s in systems), "no macOS x86-64"
    assert any(s.startswith("macos") and "intel" not in s for s in systems), "no macOS arm64"
    assert any(s.startswith("windows") for s in systems), "no Windows"
    uses = [step["uses"] for step in job["steps"] if "uses" in step]
    cibuildwheel = [u for u in uses if u.startswith("pypa/cibuildwheel@")]
    assert cibuildwheel, uses
    # 4.x dropped CPython 3.13t.
    if "cp313t" in matrix["python"]:
        assert cibuildwheel[0].split("@v")[1].startswith("3."), cibuildwheel[0]
    sdist = " ".join(str(step.get("run", "")) for step in workflow["jobs"]["sdist"]["steps"])
    assert "build --sdist" in sdist and "twine check" in sdist


def test_cibuildwheel_settings_select_the_same_pythons() -> None:
    settings = PYPROJECT["tool"]["cibuildwheel"]
    selected = {pattern.split("-")[0] for pattern in settings["build"].split()}
    assert selected == wheel_targets()
    if "cp313t" in selected:
        assert "cpython-freethreading" in settings.get("enable", [])
