"""Sphinx configuration: `nox -s docs`, or `sphinx-build -W docs docs/_build/html`.

Most pages include the README's sections or are the markdown files beside
this one (MyST), so each text has one source; the API page is autodoc.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# autodoc imports the package from this checkout when it is not installed.
sys.path.insert(0, str(ROOT))

import flask_clustershazbot  # noqa: E402

project = "Flask-ClusterShazbot"
author = "flask-clustershazbot developers"
copyright = "2025-2026, flask-clustershazbot developers"
release = flask_clustershazbot.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "deflist"]
# Pages include README sections whose subsections are ###: the jump from the
# page's # title is intended, not a broken outline.
# The README's HAProxy example has no Pygments lexer: it is shown unhighlighted.
suppress_warnings = ["myst.header", "misc.highlighting_failure"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_preserve_defaults = True

# No internet on the CI machines: linkcheck checks internal targets
# (documents, anchors, images) only.
linkcheck_ignore = [r"https?://.*", r"mailto:.*"]
linkcheck_anchors = False

html_theme = "furo"
html_title = f"Flask-ClusterShazbot {release}"
html_static_path: list[str] = []
