"""Debian tools some tests drive for real (CI's .ci/run installs them)."""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(command: str, package: str) -> str:
    """The tool's path; under CI its absence fails the test, elsewhere it skips."""
    path = shutil.which(command)
    if path is None:
        message = f"{command} is not installed (apt-get install {package}; .ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path
