"""Sphinx configuration for the asyncwebsockets documentation.

Build with ``python -m sphinx -W -b html docs docs/_build/html``.  The build
needs no network: links into the Python, anyio and wsproto documentation
(intersphinx) are made only when their inventories can be had, either
from a file ``docs/_inventories/<name>.inv`` or, with
``ASYNCWEBSOCKETS_DOCS_ONLINE=1`` in the environment, downloaded.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE / "_ext"))


def _version() -> str:
    """The version from pyproject.toml, without importing the package."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    match = re.search(r'^version\s*=\s*"([^"]+)"', text, flags=re.M)
    return match.group(1) if match else "unknown"


project = "asyncwebsockets"
author = "the asyncwebsockets authors"
copyright = "2018-2026, the asyncwebsockets authors"  # noqa: A001 - Sphinx's name
release = _version()
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "benchtables",  # _ext/benchtables.py: tables from the bench/ JSON results
]

exclude_patterns = ["_build", "_bench", "_ext", "_inventories", "examples"]
nitpicky = False
highlight_language = "python3"

# -- autodoc -----------------------------------------------------------------

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_default_options = {"show-inheritance": True}

# -- intersphinx, offline-safe -------------------------------------------------

_ONLINE = os.environ.get("ASYNCWEBSOCKETS_DOCS_ONLINE", "") not in ("", "0")
_INVENTORIES = {
    "python": "https://docs.python.org/3",
    "anyio": "https://anyio.readthedocs.io/en/stable",
    "wsproto": "https://python-hyper.org/projects/wsproto/en/stable",
    "trio": "https://trio.readthedocs.io/en/stable",
}
intersphinx_mapping = {}
for _name, _url in _INVENTORIES.items():
    _local = HERE / "_inventories" / f"{_name}.inv"
    if _local.is_file():
        intersphinx_mapping[_name] = (_url, str(_local))
    elif _ONLINE:
        intersphinx_mapping[_name] = (_url, None)
intersphinx_timeout = 10

# -- HTML ----------------------------------------------------------------------

html_theme = "furo"
html_title = f"asyncwebsockets {release}"
# _static holds only the benchmark chart, which may not have been drawn yet.
html_static_path = ["_static"] if (HERE / "_static").is_dir() else []
html_theme_options = {
    "source_repository": "https://github.com/Fuyukai/asyncwebsockets/",
    "source_branch": "main",
    "source_directory": "docs/",
}
