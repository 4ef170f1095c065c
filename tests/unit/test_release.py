"""What a user installing the release sees: the platform guard and the
package's metadata (one version, the license, the classifiers)."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import flask_clustershazbot

DIST = "Flask-ClusterShazbot"


def test_importing_on_a_non_posix_system_fails_with_a_clear_message() -> None:
    # A fresh interpreter that reports itself as Windows, importing the same package.
    package_parent = str(Path(flask_clustershazbot.__file__).resolve().parents[1])
    code = "import os; os.name = 'nt'; import flask_clustershazbot"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            cwd=package_parent)
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("ImportError: Flask-ClusterShazbot supports POSIX systems only"), result.stderr
    assert "fcntl" in last_line and "WSL" in last_line


def test_installed_version_is_the_package_version() -> None:
    assert metadata.version(DIST) == flask_clustershazbot.__version__


def test_metadata_declares_the_license_and_the_supported_platforms() -> None:
    meta = metadata.metadata(DIST)
    assert meta["License-Expression"] == "MIT"
    assert "LICENSE" in (meta.get_all("License-File") or [])
    classifiers = set(meta.get_all("Classifier") or [])
    assert {
        "Framework :: Flask",
        "Typing :: Typed",
        "Development Status :: 4 - Beta",
        "Operating System :: POSIX :: Linux",
        *(f"Programming Language :: Python :: 3.{minor}" for minor in range(10, 14)),
    } <= classifiers
    assert meta["Author"] or meta["Author-email"] or meta["Maintainer"]
