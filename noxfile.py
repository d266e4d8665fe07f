"""The project's checks, each in a fresh virtualenv: ``nox -l`` lists them.

    nox                                  # everything
    nox -s lint mypy docs                # the quick ones
    nox -s "tests-3.12(codec='pure')"    # one Python, one codec
    nox -s tests-3.13 -- -x tests/test_frames.py   # arguments after -- go to pytest

The test sessions install the package in editable mode, as the README does,
so the tests import what the session compiled for its own Python.  Each
Python is tested twice: with the compiled codec, whose absence is then an
error, and with the pure-Python one the package falls back to without a
compiler.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

if sys.version_info >= (3, 11):
    import tomllib
else:  # nox itself may run on 3.10
    import tomli as tomllib

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
#: The Python of the sessions that do not depend on it.
MAIN_PYTHON = "3.11"

nox.options.default_venv_backend = "venv"
nox.options.error_on_missing_interpreters = True

CODEC_ENV: dict[str, dict[str, str]] = {
    "compiled": {"ASYNCWEBSOCKETS_REQUIRE_EXTENSIONS": "1"},
    "pure": {"ASYNCWEBSOCKETS_NO_EXTENSIONS": "1"},
}


def test_requirement(name: str) -> str:
    """The requirement on ``name`` in pyproject.toml's test extra, so the pin lives in one place."""
    with Path("pyproject.toml").open("rb") as file:
        extra = tomllib.load(file)["project"]["optional-dependencies"]["test"]
    return next(req for req in extra if req.split(";")[0].strip().startswith(name))


@nox.session(python=PYTHONS)
@nox.parametrize("codec", ["compiled", "pure"])
def tests(session: nox.Session, codec: str) -> None:
    """The test suite, with the compiled or the pure-Python codec."""
    env = CODEC_ENV[codec]
    session.install("-e", ".[test]", env=env)
    session.run("python", "-m", "pytest", *session.posargs, env=env)


@nox.session(python=MAIN_PYTHON)
def lint(session: nox.Session) -> None:
    """ruff's checks and formatting, as tests/test_lint.py runs them."""
    session.install(test_requirement("ruff"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=MAIN_PYTHON)
def mypy(session: nox.Session) -> None:
    """``mypy --strict`` over the package (which ships py.typed)."""
    # The optional dependencies' annotations are part of what is checked; the
    # codec need not be compiled.
    session.install("-e", ".[trio,socks]", test_requirement("mypy"), env=CODEC_ENV["pure"])
    session.run("mypy", "--strict", "asyncwebsockets")


@nox.session(python=MAIN_PYTHON)
def docs(session: nox.Session) -> None:
    """The documentation, with every warning an error."""
    session.install("-e", ".[docs,trio]", env=CODEC_ENV["pure"])
    out = Path(session.create_tmp()) / "html"
    session.run("python", "-m", "sphinx", "-W", "--keep-going", "-b", "html", "docs", str(out))
    session.log(f"built {out / 'index.html'}")
