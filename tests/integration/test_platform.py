"""What a user installing the release on Windows sees: a clear ImportError."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import flask_clustershazbot


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
