from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_clustershazbot import Shazbot

from .support.cluster import CONTROL_SECRET, GOSSIP_SECRET, Server, base_env
from .support.masterlist_server import MasterListServer


def config_dict(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "SHAZBOT_SECRET": GOSSIP_SECRET,
        "SHAZBOT_CONTROL_SECRET": CONTROL_SECRET,
        "SHAZBOT_BASE_URL": "http://127.0.0.1:5999/",
        "SHAZBOT_MASTER_LIST": f"file://{tmp_path}/masterlist.json",
        "SHAZBOT_MASTER_LIST_UPDATE": f"file://{tmp_path}/masterlist.json",
        "SHAZBOT_AUTOSTART": False,
    }
    config.update(overrides)
    return config


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., Flask]:
    """A Flask app with Shazbot, not started, configured without the environment."""

    def make(**overrides: Any) -> Flask:
        app = Flask("test_app")
        app.config.update(config_dict(tmp_path, **overrides))
        Shazbot(app)
        return app

    return make


@pytest.fixture
def master_store() -> Iterator[MasterListServer]:
    store = MasterListServer().start()
    yield store
    store.stop()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start cluster members; every one still running is killed at the end."""
    started: list[Server] = []

    def start(name: str, env: dict[str, str], port: int | None = None, wait: bool = True) -> Server:
        server = Server(name, env, tmp_path, port=port)
        started.append(server)
        return server.start() if wait else server

    yield start
    for server in started:
        server.stop(signal.SIGKILL, timeout=10)


@pytest.fixture
def http_env(master_store: MasterListServer) -> dict[str, str]:
    return base_env(master_store.url)
