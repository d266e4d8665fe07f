"""Sphinx configuration for the asyncwebsockets documentation."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "asyncwebsockets"
author = "asyncwebsockets contributors"
copyright = "asyncwebsockets contributors"
release = "1.0.0"

extensions = ["sphinx.ext.autodoc", "sphinx.ext.viewcode"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
exclude_patterns = ["_build"]
html_theme = "alabaster"
