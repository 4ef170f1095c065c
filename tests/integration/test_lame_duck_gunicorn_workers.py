"""SHAZBOT_LAME_DUCK under gunicorn, beyond the plain stop
(tests/integration/test_lame_duck.py): a worker forked during the lame duck
(a crash, max_requests) serves, offline, and gossips with its peers; and a
server drained before its SIGTERM does not wait a lame duck again."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from ..support.cluster import CONTROL_SECRET, GOSSIP_SECRET
from ..support.gunicorn_server import GunicornServer
from ..support.stub_peer import StubPeer
from ..support.waiting import wait_until


@pytest.fixture
def stub() -> Iterator[StubPeer]:
    peer = StubPeer(GOSSIP_SECRET).start()
    yield peer
    peer.stop()


@pytest.fixture
def gunicorn(tmp_path: Path, stub: StubPeer) -> Iterator[Callable[[float], GunicornServer]]:
    started: list[GunicornServer] = []

    def start(lame_duck: float) -> GunicornServer:
        master_list = tmp_path / "masterlist.json"
        master_list.write_text(json.dumps({"online": [stub.entry()], "offline": []}))
        env = {
            "SHAZBOT_SECRET": GOSSIP_SECRET,
            "SHAZBOT_CONTROL_SECRET": CONTROL_SECRET,
            "SHAZBOT_MASTER_LIST": master_list.as_uri(),
            "SHAZBOT_MASTER_LIST_UPDATE": master_list.as_uri(),
            "SHAZBOT_MASTER_ANNOUNCE_MINIMUM": "60",
            "SHAZBOT_GOSSIP_INTERVAL": "0.25",
            "SHAZBOT_FAILURE_TIMEOUT": "30",
            "SHAZBOT_SHUTDOWN_TIMEOUT": "2",
            "SHAZBOT_LAME_DUCK": str(lame_duck),
        }
        server = GunicornServer(env, tmp_path, workers=2)  # without --preload: the master loads the app at SIGTERM
        started.append(server)
        server.start()
        wait_until(lambda: stub.last_status(server.base_url) is True, timeout=20, what="the peer to hear the server")
        return server

    yield start
    for server in started:
        server.kill_all()


def health(server: GunicornServer) -> int | None:
    try:
        return requests.get(f"{server.base_url}clustershazbot/health", timeout=2).status_code
    except requests.RequestException:
        return None


def test_workers_forked_during_the_lame_duck_serve_offline_and_gossip(
    gunicorn: Callable[[float], GunicornServer], stub: StubPeer
) -> None:
    server = gunicorn(30)
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)
    wait_until(lambda: health(server) == 503, timeout=15, what="the server to go offline")
    first_workers = server.workers()
    for pid in first_workers:
        os.kill(pid, signal.SIGKILL)  # crashed: the master forks new ones, from the app it loaded
    wait_until(lambda: len(server.workers() - first_workers) == 2, timeout=20, what="replacement workers")
    replaced_at = time.monotonic()

    # Every answer now comes from a worker forked during the lame duck: it
    # serves, still offline (it does not bring the server back), and gossips.
    wait_until(lambda: health(server) == 503, timeout=15, what="a replacement worker to answer")
    wait_until(lambda: stub.said_offline(server.base_url, since=replaced_at) > 0, timeout=15,
               what="a replacement worker to gossip the server offline")
    assert server.process.poll() is None, "the master stopped before its lame duck ended"
    assert server.stop() == 0  # a second SIGTERM: stops now
    assert "this server left the cluster" in server.log_path.read_text()


def test_a_gunicorn_server_drained_before_its_sigterm_stops_without_a_second_lame_duck(
    gunicorn: Callable[[float], GunicornServer], stub: StubPeer
) -> None:
    lame_duck = 3.0
    server = gunicorn(lame_duck)
    assert server.process is not None
    assert server.control(False).status_code == 200
    drained_at = time.monotonic()
    wait_until(lambda: time.monotonic() - drained_at > lame_duck, timeout=10, interval=0.05,
               what="the lame duck to have passed since the drain")
    began = time.monotonic()
    assert server.stop() == 0
    took = time.monotonic() - began
    assert took < lame_duck - 0.5, f"stopped {took:.2f}s after SIGTERM: a lame duck again after the drain"
    log = server.log_path.read_text()
    assert "lame duck: offline, serving" not in log
    assert "this server left the cluster" in log
