"""Build script: the Cython speedups are optional unless asked for.

``ASYNCWEBSOCKETS_REQUIRE_EXTENSIONS=1`` turns a failed compilation into an
error (wheel builds use it, so a wheel never ships without its speedups);
``ASYNCWEBSOCKETS_NO_EXTENSIONS=1`` skips compilation altogether.  With
neither, a build that cannot compile (no compiler, no Cython) still installs
the pure-Python implementation.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).parent
MODULES = ["_mask", "_utf8", "_messages", "_frames", "_frame_writer"]


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


REQUIRE = _flag("ASYNCWEBSOCKETS_REQUIRE_EXTENSIONS")
FORBID = _flag("ASYNCWEBSOCKETS_NO_EXTENSIONS")


class OptionalBuildExt(build_ext):
    """build_ext that degrades to the pure-Python twins unless required."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any build failure
            self._give_up(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            self._give_up(exc)

    def _give_up(self, exc: BaseException) -> None:
        if REQUIRE:
            raise exc
        sys.stderr.write(
            f"warning: asyncwebsockets speedups not built ({exc}); the pure-Python implementation will be used\n"
        )


def _extensions() -> list[Extension]:
    if FORBID:
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        if REQUIRE:
            raise
        sys.stderr.write("warning: Cython missing; building without speedups\n")
        return []
    compile_args = [] if sys.platform == "win32" else ["-O3"]
    extensions = [
        Extension(
            f"asyncwebsockets.{name}",
            [f"csrc/{name}.pyx"],
            include_dirs=["csrc"],
            extra_compile_args=compile_args,
        )
        for name in MODULES
    ]
    try:
        return cythonize(
            extensions,
            language_level=3,
            include_path=["csrc"],
            compiler_directives={
                "boundscheck": False,
                "wraparound": False,
                "cdivision": True,
                "initializedcheck": False,
                # No GIL needed on free-threaded CPython: the modules keep no
                # mutable state of their own (docs/topics/design.rst,
                # "Threads").  Ignored by interpreters with a GIL.
                "freethreading_compatible": True,
            },
        )
    except Exception as exc:  # noqa: BLE001 - Cython could not translate the sources
        if REQUIRE:
            raise
        sys.stderr.write(f"warning: speedups not built (Cython failed: {exc})\n")
        return []


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
