"""What a user installing the release sees: the package's metadata (one
version, the license, the classifiers). The platform guard, which needs a
fresh interpreter, is in tests/integration/test_platform.py."""

from __future__ import annotations

from importlib import metadata

import flask_clustershazbot

DIST = "Flask-ClusterShazbot"


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
