"""SHAZBOT_LAME_DUCK: a server asked to stop first goes offline (gossiped at
once, /health 503) and keeps serving that long, and only then stops and says
goodbye. Under gunicorn (SIGTERM to the master), in examples/app.py (SIGTERM)
and through ``shazbot.shutdown()``; with 0 each stops at once, as before."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from flask import Flask
from werkzeug.serving import make_server

from flask_clustershazbot import Shazbot

from ..support.cluster import CONTROL_SECRET, GOSSIP_SECRET, Server, free_port
from ..support.gunicorn_server import GunicornServer
from ..support.stub_peer import StubPeer
from ..support.waiting import wait_until

LAME_DUCK = 2.0


@pytest.fixture
def stub() -> Iterator[StubPeer]:
    peer = StubPeer(GOSSIP_SECRET).start()
    yield peer
    peer.stop()


def member_env(tmp_path: Path, stub: StubPeer, lame_duck: float) -> dict[str, str]:
    """A member whose only peer is ``stub`` (through a file master list)."""
    master_list = tmp_path / "masterlist.json"
    master_list.write_text(json.dumps({"online": [stub.entry()], "offline": []}))
    return {
        "SHAZBOT_SECRET": GOSSIP_SECRET,
        "SHAZBOT_CONTROL_SECRET": CONTROL_SECRET,
        "SHAZBOT_MASTER_LIST": master_list.as_uri(),
        "SHAZBOT_MASTER_LIST_UPDATE": master_list.as_uri(),
        "SHAZBOT_GOSSIP_INTERVAL": "0.25",
        "SHAZBOT_FAILURE_TIMEOUT": "30",
        "SHAZBOT_MASTER_ANNOUNCE_MINIMUM": "60",
        "SHAZBOT_SHUTDOWN_TIMEOUT": "2",
        "SHAZBOT_LAME_DUCK": str(lame_duck),
    }


@dataclass
class Answer:
    at: float  # seconds after the stop was asked for
    status: int | None  # None: no answer (refused, reset, timed out)


@dataclass
class HealthWatch:
    """Asks ``/health`` every 50 ms from the stop until ``done()`` is true."""

    url: str
    done: Callable[[], bool]
    began: float = field(default_factory=time.monotonic)
    answers: list[Answer] = field(default_factory=list)

    def run(self) -> None:
        while not self.done():
            try:
                status: int | None = requests.get(self.url, timeout=2).status_code
            except requests.RequestException:
                status = None
            self.answers.append(Answer(time.monotonic() - self.began, status))
            time.sleep(0.05)  # the polling period, not a wait for a condition

    def first_503(self) -> float | None:
        return next((a.at for a in self.answers if a.status == 503), None)

    def unanswered_before(self, seconds: float) -> list[Answer]:
        return [a for a in self.answers if a.at < seconds and a.status is None]


def watch(url: str, process: subprocess.Popen[bytes]) -> tuple[HealthWatch, threading.Thread]:
    health = HealthWatch(f"{url}clustershazbot/health", done=lambda: process.poll() is not None)
    thread = threading.Thread(target=health.run, daemon=True)
    thread.start()
    return health, thread


def first_offline_at(stub: StubPeer, base_url: str) -> float | None:
    """When (time.monotonic()) the stub peer first heard ``base_url`` offline."""
    with stub.lock:
        return next((e.at for e in stub.exchanges if e.statuses.get(base_url) is False), None)


def assert_lame_duck(health: HealthWatch, exited_after: float) -> None:
    """Offline at once, answering throughout the lame duck, stopped after it."""
    first_503 = health.first_503()
    assert first_503 is not None and first_503 < 1.0, f"/health not 503 soon after the stop: {health.answers[:10]}"
    # Every request during the lame duck is answered (a margin for a slow start of the stop).
    assert health.unanswered_before(LAME_DUCK - 0.3) == []
    assert [a for a in health.answers if first_503 <= a.at < LAME_DUCK - 0.3 and a.status != 503] == []
    assert exited_after >= LAME_DUCK - 0.1, f"stopped after {exited_after:.2f}s, before the lame duck ended"


def stop_and_watch(process: subprocess.Popen[bytes], base_url: str, stub: StubPeer,
                   sig: int = signal.SIGTERM) -> tuple[HealthWatch, float, float | None]:
    """Send ``sig``; return the health answers, when the process exited and
    when the stub peer first heard the server offline (seconds after ``sig``)."""
    health, thread = watch(base_url, process)
    heard_offline: list[float] = []

    def peer_hears() -> bool:
        if stub.last_status(base_url) is False and not heard_offline:
            heard_offline.append(time.monotonic() - health.began)
        return process.poll() is not None

    process.send_signal(sig)
    wait_until(peer_hears, timeout=30, interval=0.02, what="the server to exit")
    exited_after = time.monotonic() - health.began
    thread.join(10)
    return health, exited_after, (heard_offline[0] if heard_offline else None)


# -- gunicorn ------------------------------------------------------------------


@pytest.fixture
def gunicorn(tmp_path: Path, stub: StubPeer) -> Iterator[Callable[..., GunicornServer]]:
    started: list[GunicornServer] = []

    def start(lame_duck: float, preload: bool = False) -> GunicornServer:
        server = GunicornServer(member_env(tmp_path, stub, lame_duck), tmp_path, workers=2,
                                extra=["--preload"] if preload else [])
        started.append(server)
        server.start()
        wait_until(lambda: stub.last_status(server.base_url) is True, timeout=20, what="the peer to hear the server")
        return server

    yield start
    for server in started:
        server.kill_all()


@pytest.mark.parametrize("preload", [False, True], ids=["no-preload", "preload"])
def test_a_gunicorn_server_stays_serving_offline_for_the_lame_duck_then_says_goodbye(
    gunicorn: Callable[..., GunicornServer], stub: StubPeer, preload: bool
) -> None:
    server = gunicorn(LAME_DUCK, preload=preload)
    assert server.process is not None
    health, exited_after, heard_offline = stop_and_watch(server.process, server.base_url, stub)

    assert server.process.returncode == 0
    assert_lame_duck(health, exited_after)
    assert heard_offline is not None and heard_offline < LAME_DUCK, "the peer did not hear of the drain in time"
    log = server.log_path.read_text()
    assert "this server left the cluster" in log, log[-3000:]
    assert f"lame duck: offline, serving for {LAME_DUCK:g}s before stopping" in log


def test_without_a_lame_duck_a_gunicorn_server_stops_at_once(
    gunicorn: Callable[..., GunicornServer], stub: StubPeer
) -> None:
    server = gunicorn(0)
    assert server.process is not None
    health, exited_after, _ = stop_and_watch(server.process, server.base_url, stub)

    assert server.process.returncode == 0
    assert exited_after < LAME_DUCK
    assert health.first_503() is None  # never offline-but-serving: the listener closed at once
    assert stub.said_offline(server.base_url) == 1  # the goodbye alone
    assert "lame duck" not in server.log_path.read_text()


def test_a_second_sigterm_cuts_the_lame_duck_short(gunicorn: Callable[..., GunicornServer], stub: StubPeer) -> None:
    server = gunicorn(30)
    assert server.process is not None
    process = server.process
    began = time.monotonic()
    process.send_signal(signal.SIGTERM)
    wait_until(lambda: requests.get(f"{server.base_url}clustershazbot/health", timeout=2).status_code == 503,
               timeout=10, what="the server to go offline")
    process.send_signal(signal.SIGTERM)
    assert process.wait(20) == 0
    assert time.monotonic() - began < 15, "the second SIGTERM did not stop the server at once"
    assert "this server left the cluster" in server.log_path.read_text()


# -- examples/app.py -------------------------------------------------------------


def test_examples_app_stays_serving_offline_for_the_lame_duck_on_sigterm(
    servers: Callable[..., Server], stub: StubPeer, tmp_path: Path
) -> None:
    server = servers("app", member_env(tmp_path, stub, LAME_DUCK))
    wait_until(lambda: stub.last_status(server.base_url) is True, timeout=20, what="the peer to hear the server")
    assert server.process is not None
    health, exited_after, heard_offline = stop_and_watch(server.process, server.base_url, stub)

    assert server.process.returncode == 0
    assert_lame_duck(health, exited_after)
    assert heard_offline is not None and heard_offline < LAME_DUCK
    assert "this server left the cluster" in server.log_tail(100)


def test_without_a_lame_duck_examples_app_stops_at_once_on_sigterm(
    servers: Callable[..., Server], stub: StubPeer, tmp_path: Path
) -> None:
    server = servers("app", member_env(tmp_path, stub, 0))
    wait_until(lambda: stub.last_status(server.base_url) is True, timeout=20, what="the peer to hear the server")
    assert server.process is not None
    health, exited_after, _ = stop_and_watch(server.process, server.base_url, stub)

    assert server.process.returncode == 0
    assert exited_after < LAME_DUCK
    assert health.first_503() is None
    assert stub.said_offline(server.base_url) == 1
    assert "this server left the cluster" in server.log_tail(100)


# -- shazbot.shutdown() ------------------------------------------------------------


def serve(app: Flask, port: int) -> Callable[[], None]:
    """Serve ``app`` on ``port`` in a thread; returns the function that stops it."""
    http = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=http.serve_forever, daemon=True).start()

    def stop() -> None:
        http.shutdown()
        http.server_close()

    return stop


@pytest.mark.parametrize("lame_duck", [LAME_DUCK, 0.0], ids=["lame-duck", "none"])
def test_shutdown_blocks_for_the_lame_duck_while_the_app_serves_offline(
    make_app: Callable[..., Flask], stub: StubPeer, tmp_path: Path, lame_duck: float
) -> None:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}/"
    env = member_env(tmp_path, stub, lame_duck)
    app = make_app(**{**env, "SHAZBOT_BASE_URL": base_url})
    shazbot: Shazbot = app.extensions["shazbot"]
    stop_serving = serve(app, port)
    try:
        shazbot.start()
        wait_until(lambda: stub.last_status(base_url) is True, timeout=20, what="the peer to hear the server")
        returned = threading.Event()
        health = HealthWatch(f"{base_url}clustershazbot/health", done=returned.is_set)
        watcher = threading.Thread(target=health.run, daemon=True)
        watcher.start()
        shazbot.shutdown()
        took = time.monotonic() - health.began
        returned.set()
        watcher.join(10)
    finally:
        stop_serving()

    if lame_duck:
        assert_lame_duck(health, took)
        heard = first_offline_at(stub, base_url)
        assert heard is not None and heard - health.began < LAME_DUCK, "the peer did not hear of the drain in time"
        assert stub.said_offline(base_url) >= 2  # the drain, then the goodbye
    else:
        assert took < LAME_DUCK - 0.5
        assert stub.said_offline(base_url) == 1  # the goodbye alone
    assert stub.last_status(base_url) is False
    assert not shazbot.is_leader
