from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ..support.cluster import Server, base_env, free_port
from ..support.masterlist_server import MasterListServer
from ..support.proxy import FaultProxy

#: Faster than the integration tests: the chaos scenarios wait for timeouts.
CHAOS = {
    "SHAZBOT_GOSSIP_INTERVAL": "0.2",
    "SHAZBOT_FAILURE_TIMEOUT": "2",
    "SHAZBOT_REQUEST_TIMEOUT": "1",
    "SHAZBOT_SHUTDOWN_TIMEOUT": "2",
    # Announces every 5 to 15 minutes as in production, not every second: the
    # master list is a shared medium that would carry heartbeats across a
    # partition.
    "SHAZBOT_MASTER_ANNOUNCE_MINIMUM": "300",
}


class ProxiedServer(Server):
    """A server whose base URL is a fault proxy in front of it."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path, prefix: list[str] | None = None) -> None:
        self.listen_port = free_port()
        self.proxy = FaultProxy(self.listen_port)
        super().__init__(name, {**env, "PORT": str(self.listen_port)}, log_dir, port=self.proxy.port, prefix=prefix)


def report(scenario: str, **figures: object) -> None:
    """Printed for docs/reliability.md (run with -s to see them)."""
    print(f"\nCHAOS {scenario}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


@pytest.fixture
def chaos_env(master_store: MasterListServer) -> dict[str, str]:
    return {**base_env(master_store.url), **CHAOS}


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[Callable[..., ProxiedServer]]:
    started: list[ProxiedServer] = []

    def start(name: str, env: dict[str, str], prefix: list[str] | None = None, wait: bool = True) -> ProxiedServer:
        server = ProxiedServer(name, env, tmp_path, prefix=prefix)
        started.append(server)
        return server.start() if wait else server

    yield start
    for server in started:
        server.stop(signal.SIGKILL, timeout=10)
        server.proxy.stop()
