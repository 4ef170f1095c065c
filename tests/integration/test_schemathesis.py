"""Schemathesis against a live server, driven by the served OpenAPI document."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ..support.cluster import CONTROL_SECRET, GOSSIP_SECRET, Server

# The `st` command line; not needed by the package or the fast tier.
pytest.importorskip("schemathesis")


def schemathesis(url: str, secret: str, operations: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    st = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"
    return subprocess.run(
        [st, "run", url, "-H", f"Authorization: Bearer {secret}", "--checks", "all", "--max-examples", "25",
         "--include-path-regex", operations, "--seed", "1"],
        capture_output=True, text=True, timeout=600, cwd=workdir,  # its cache stays out of the repository
    )


def test_schemathesis_finds_no_failure(
    servers: Callable[..., Server], http_env: dict[str, str], tmp_path: Path
) -> None:
    server = servers("fuzzed", http_env)
    spec = server.url("openapi.json")
    for secret, operations in ((GOSSIP_SECRET, "/(gossip|list)$"), (CONTROL_SECRET, "/control$")):
        result = schemathesis(spec, secret, operations, tmp_path)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        assert "passed" in result.stdout
    assert server.process is not None and server.process.poll() is None
