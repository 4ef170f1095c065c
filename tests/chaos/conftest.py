"""Fixtures for the chaos tier; helpers are in tests/support/chaos.py."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ..support.chaos import CHAOS, ProxiedServer, report
from ..support.cluster import base_env
from ..support.masterlist_server import MasterListServer

# Re-exported: tests/chaos/test_fast_detection.py still imports them from here.
__all__ = ["ProxiedServer", "report"]


@pytest.fixture
def chaos_env(master_store: MasterListServer) -> dict[str, str]:
    """Environment for a chaos-suite member using ``master_store``."""
    return {**base_env(master_store.url), **CHAOS}


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[Callable[..., ProxiedServer]]:
    """Start servers behind fault proxies; all are killed at the end."""
    started: list[ProxiedServer] = []

    def start(name: str, env: dict[str, str], prefix: list[str] | None = None, wait: bool = True) -> ProxiedServer:
        server = ProxiedServer(name, env, tmp_path, prefix=prefix)
        started.append(server)
        if wait:
            server.start()
        return server

    yield start
    for server in started:
        server.stop(signal.SIGKILL, timeout=10)
        server.proxy.stop()
