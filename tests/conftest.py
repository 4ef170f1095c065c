"""Fixtures for every tier; helpers live in tests/support/.

Every test is marked with its tier (the folder it is in: ``pytest -m unit``)
and runs with no SHAZBOT_* variable in its environment. The in-process tiers
(tests/unit, tests/wsgi) may not open sockets or start processes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_clustershazbot import Shazbot

from .support.cluster import Server, base_env
from .support.config import config_dict
from .support.masterlist_server import MasterListServer
from .support.tiers import IN_PROCESS, TIERS, tier_of


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its tier, from the folder it is in."""
    for item in items:
        tier = tier_of(item.path)
        if tier is None:
            raise pytest.UsageError(f"{item.nodeid}: a test file belongs in a tier folder ({', '.join(sorted(TIERS))})")
        item.add_marker(tier)


@pytest.fixture(autouse=True, scope="session")
def _no_shazbot_environment() -> Iterator[None]:
    """A developer's SHAZBOT_* variables must not change results: the
    extension reads the environment for every key app.config lacks. Session
    scope, so that module-scoped apps are built without them too; servers
    started by tests/support get their SHAZBOT_* explicitly."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name in [name for name in os.environ if name.startswith("SHAZBOT_")]:
            monkeypatch.delenv(name)
        yield


@pytest.fixture(autouse=True)
def _in_process_tiers_stay_in_process(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test in tests/unit or tests/wsgi fails if it binds or connects a
    socket or starts a process: such a test belongs in tests/integration."""
    tier = tier_of(request.node.path)
    if tier not in IN_PROCESS:
        yield
        return

    test_thread = threading.get_ident()

    def refuse(original: Callable[..., Any], what: str) -> Callable[..., Any]:
        # Only in the test's own thread: threads an earlier test in this
        # worker left running must not fail this one.
        def refused(*args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() != test_thread:
                return original(*args, **kwargs)
            raise AssertionError(f"a test in tests/{tier} {what}: move it to tests/integration")

        return refused

    # Not the `monkeypatch` fixture: requested here, it would be set up before
    # every other fixture, so a test's own patches (of time.sleep, say) would
    # last through those fixtures' teardown.
    with pytest.MonkeyPatch.context() as monkeypatch:
        for method in ("bind", "connect", "connect_ex"):
            original = getattr(socket.socket, method)
            monkeypatch.setattr(socket.socket, method, refuse(original, f"called socket.{method}"))
        monkeypatch.setattr(subprocess.Popen, "__init__", refuse(subprocess.Popen.__init__, "started a process"))
        yield


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """A Flask app with Shazbot, not started, configured without the
    environment; each one is shut down at the end (closing its state)."""
    made: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        app = Flask("test_app")
        app.config.update(config_dict(tmp_path, **overrides))
        Shazbot(app)
        made.append(app)
        return app

    yield make
    for app in made:
        member = app.extensions.get("shazbot.member")
        if member is not None:  # a test may have taken it apart itself
            member.shutdown()


@pytest.fixture
def master_store() -> Iterator[MasterListServer]:
    """An HTTP master-list store on 127.0.0.1, stopped at the end."""
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
    """Environment for a cluster member using ``master_store``."""
    return base_env(master_store.url)
