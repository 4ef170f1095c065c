"""Chaos-suite helpers: fast timings, servers behind a fault proxy, figures."""

from __future__ import annotations

from pathlib import Path

from .cluster import Server, free_port
from .proxy import FaultProxy

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
