"""A server restarted on a reused port and state file with another cluster's
settings starts with an empty view; the same cluster (or a rotated gossip
secret) gets its saved view back. One process, and gunicorn workers."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from flask_clustershazbot.wire import load_server_list, parse_json

from ..support.cluster import GOSSIP_SECRET, Server, base_env, free_port
from ..support.gunicorn_server import GunicornServer
from ..support.waiting import wait_until

#: Peers that never answer: they reach a view only through the master list.
PEERS = {f"http://127.0.0.1:{free_port()}/" for _ in range(2)}
RESET = "starting with an empty view"


class Member(Server):
    """A server asked with its own gossip secret (SHAZBOT_SECRET's first)."""

    def get_list(self, secret: str | None = None) -> requests.Response:
        return super().get_list(secret or self.env["SHAZBOT_SECRET"].split(",")[0])


@pytest.fixture
def members(tmp_path: Path) -> Iterator[Callable[..., Member]]:
    """Start servers; every one still running is killed at the end."""
    started: list[Member] = []

    def start(name: str, env: dict[str, str], port: int) -> Member:
        server = Member(name, env, tmp_path, port=port)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop(signal.SIGKILL, timeout=10)


def write_list(path: Path, urls: set[str]) -> None:
    now = int(time.time() * 1000)
    path.write_text(json.dumps({"online": [{"baseUrl": u, "monitor": False, "lastUpdate": now} for u in urls]}))


def settings(tmp_path: Path, master_list: Path, secret: str = GOSSIP_SECRET) -> dict[str, str]:
    return {
        **base_env(f"file://{master_list}"),
        "SHAZBOT_SECRET": secret,
        "SHAZBOT_STATE_PATH": str(tmp_path / "state.sqlite3"),
        "SHAZBOT_FAILURE_TIMEOUT": "120",  # the silent peers stay online: the view is what was saved
    }


def peers_seen(response: Any) -> set[str]:
    assert response.status_code == 200, response.text
    return {e.base_url for e in load_server_list(parse_json(response.content))} & PEERS


def run_then_restart(
    members: Callable[..., Member], tmp_path: Path, first: dict[str, str], second: dict[str, str]
) -> tuple[set[str], Member]:
    """Run a server that learns of PEERS from cluster A's master list, stop
    it, empty that list, start a server with ``second`` on the same port and
    state file: the peers it shows at once, and the server."""
    port = free_port()
    old = members("first", first, port)
    wait_until(lambda: peers_seen(old.get_list()) == PEERS, timeout=30, what="the peers to be merged")
    assert old.stop() == 0
    write_list(tmp_path / "a.json", set())  # from now on, the saved view is the only source of PEERS
    new = members("second", second, port)
    return peers_seen(new.get_list()), new


@pytest.mark.parametrize("change", ["master list", "gossip secret"])
def test_a_server_of_another_cluster_on_a_reused_port_starts_empty(
    members: Callable[..., Member], tmp_path: Path, change: str
) -> None:
    write_list(tmp_path / "a.json", PEERS)
    write_list(tmp_path / "b.json", set())
    first = settings(tmp_path, tmp_path / "a.json")
    if change == "master list":
        second = settings(tmp_path, tmp_path / "b.json")
    else:
        second = settings(tmp_path, tmp_path / "a.json", "other-clusters-secret")
    seen, new = run_then_restart(members, tmp_path, first, second)
    assert seen == set()
    log = new.log_path.read_text()
    assert log.count(RESET) == 1
    assert GOSSIP_SECRET not in log and "other-clusters-secret" not in log


@pytest.mark.parametrize(("before", "after"), [(GOSSIP_SECRET, GOSSIP_SECRET), ("new-secret,old-secret", "new-secret")])
def test_a_restart_of_the_same_cluster_keeps_its_saved_view(
    members: Callable[..., Member], tmp_path: Path, before: str, after: str
) -> None:
    write_list(tmp_path / "a.json", PEERS)
    first, second = settings(tmp_path, tmp_path / "a.json", before), settings(tmp_path, tmp_path / "a.json", after)
    seen, new = run_then_restart(members, tmp_path, first, second)
    assert seen == PEERS
    assert RESET not in new.log_path.read_text()


def has_open(pid: int, path: Path) -> bool:
    """Whether process ``pid`` holds ``path`` open."""
    try:
        return any(os.readlink(fd) == str(path) for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:  # gone, or a descriptor closed while we looked
        return False


def gunicorn_on(port: int, env: dict[str, str], tmp_path: Path) -> GunicornServer:
    """Two gunicorn workers serving ``port`` (a restart reuses it)."""
    return GunicornServer(env, tmp_path, workers=2, port=port)


def test_gunicorn_workers_of_another_cluster_empty_the_saved_view_once(tmp_path: Path) -> None:
    write_list(tmp_path / "a.json", PEERS)
    write_list(tmp_path / "b.json", set())
    port = free_port()
    old = gunicorn_on(port, settings(tmp_path, tmp_path / "a.json"), tmp_path)
    new = gunicorn_on(port, settings(tmp_path, tmp_path / "b.json"), tmp_path)
    try:
        old.start()
        wait_until(lambda: peers_seen(old.list()) == PEERS, timeout=30, what="the peers to be merged")
        assert old.stop() == 0
        new.start()
        # Whichever worker answers, and however often: the old view is gone.
        for _ in range(10):
            assert peers_seen(new.list()) == set()
        wait_until(lambda: new.base_url in {e.base_url for e in load_server_list(parse_json(new.list().content))},
                   timeout=30, what="the new server to list itself")
        # Both workers opened the file; one emptied it, once.
        wait_until(lambda: len(new.workers()) == 2 and all(has_open(pid, new.state_path) for pid in new.workers()),
                   timeout=30, what="both workers to open the state file")
        assert new.log_path.read_text().count(RESET) == 1
    finally:
        old.kill_all()
        new.kill_all()
