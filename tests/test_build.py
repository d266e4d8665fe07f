"""The installed package really has (or really lacks) its compiled modules."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

import pytest

import asyncwebsockets
from asyncwebsockets import _speedups

from .helpers import REQUIRE_COMPILED

ROOT = Path(__file__).resolve().parent.parent


def test_speedups_flag_matches_modules() -> None:
    assert asyncwebsockets.SPEEDUPS is (_speedups.COMPILED is not None)
    if REQUIRE_COMPILED:
        assert asyncwebsockets.SPEEDUPS


def test_compiled_modules_are_extensions() -> None:
    if _speedups.COMPILED is None:
        assert not REQUIRE_COMPILED
        pytest.skip("the compiled codec is not built here")
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    for module in _speedups.COMPILED.values():
        assert module.__file__ is not None and module.__file__.endswith(suffix), module.__file__
    assert _speedups.FrameReader is _speedups.COMPILED["frames"].FrameReader
    assert _speedups.COMPILED["mask"].kernel_name() in ("avx2", "sse2", "words")


def _speedups_in_subprocess(env_extra: dict[str, str]) -> str:
    # Not inherited: the suite itself may run with the pure codec forced.
    env = {name: value for name, value in os.environ.items() if name != "ASYNCWEBSOCKETS_NO_EXTENSIONS"}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-c", "import asyncwebsockets; print(asyncwebsockets.SPEEDUPS)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=ROOT,
    ).stdout.strip()


def test_env_var_forces_python() -> None:
    assert _speedups_in_subprocess({"ASYNCWEBSOCKETS_NO_EXTENSIONS": "1"}) == "False"
    # "0" is the same as not set.
    assert _speedups_in_subprocess({"ASYNCWEBSOCKETS_NO_EXTENSIONS": "0"}) == _speedups_in_subprocess({})


def setup_py(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``python setup.py -q ARGS`` in the source tree."""
    return subprocess.run(
        [sys.executable, "setup.py", "-q", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_setup_falls_back_without_compiler(tmp_path: Path) -> None:
    """``CC=false``: the build gives up on the extensions but not on installing."""
    env = dict(os.environ, CC="false", LDSHARED="false")
    env.pop("ASYNCWEBSOCKETS_REQUIRE_EXTENSIONS", None)
    env.pop("ASYNCWEBSOCKETS_NO_EXTENSIONS", None)  # which would skip the build being tested
    build = setup_py(env, "build_ext", "--build-lib", str(tmp_path / "lib"), "--build-temp", str(tmp_path / "tmp"))
    assert build.returncode == 0, build.stderr
    assert "without speedups" in build.stderr or "speedups not built" in build.stderr
    assert not list((tmp_path / "lib").rglob("*.so"))
    # And with the requirement set, the same failure is an error.
    env["ASYNCWEBSOCKETS_REQUIRE_EXTENSIONS"] = "1"
    strict = setup_py(env, "build_ext", "--build-lib", str(tmp_path / "lib2"), "--build-temp", str(tmp_path / "tmp2"))
    assert strict.returncode != 0


def test_every_subpackage_is_packaged() -> None:
    """The wheel gets every package under asyncwebsockets/, not just the top one."""
    from fnmatch import fnmatchcase

    if not (ROOT / "asyncwebsockets").is_dir():
        pytest.skip("a check of the source tree; these tests run without it")
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    section = text.split("[tool.setuptools.packages.find]", 1)[1].split("\n[", 1)[0]
    patterns = [p for line in section.splitlines() if line.startswith("include") for p in line.split('"')[1::2]]
    assert patterns, "no [tool.setuptools.packages.find] include patterns"
    packages = [
        ".".join(init.parent.relative_to(ROOT).parts) for init in (ROOT / "asyncwebsockets").rglob("__init__.py")
    ]
    assert "asyncwebsockets.transports" in packages
    for package in packages:
        assert any(fnmatchcase(package, pattern) for pattern in patterns), package


def test_sdist_carries_the_c_sources(tmp_path: Path) -> None:
    """Every .pyx, .pxd and .h of csrc/ goes into the sdist, which wheels are built from."""
    if not (ROOT / "csrc").is_dir():
        pytest.skip("a check of the source tree; these tests run without it")
    result = setup_py(dict(os.environ, ASYNCWEBSOCKETS_NO_EXTENSIONS="1"), "sdist", "--dist-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    (sdist,) = tmp_path.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    sources = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "csrc").rglob("*")
        if path.suffix in (".pyx", ".pxd", ".h")
    }
    assert {"csrc/protocol.pxd", "csrc/mask.pxd", "csrc/buffers.pxd", "csrc/utf8_dfa.pxd"} <= sources
    assert "csrc/asyncwebsockets/_messages.pxd" in sources
    assert sources <= names, sources - names
    assert not {name for name in names if name.startswith("csrc/") and name.endswith(".c")}
