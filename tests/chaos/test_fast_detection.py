"""Fast failure detection with real processes (docs/protocol.md section 8.4).

The heartbeat timeout is set to a minute, so anything detected within seconds
was detected by a failed exchange confirmed through witnesses. A pause shorter
than the request timeout, or a fault on one link only, must never produce an
offline verdict.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import requests

from ..support.chaos import ProxiedServer, report
from ..support.cluster import GOSSIP_SECRET, Server
from ..support.gunicorn_server import GunicornServer
from ..support.masterlist_server import MasterListServer
from ..support.waiting import wait_until

#: The timeout cannot be what detects within seconds.
DETECTION = {
    "SHAZBOT_GOSSIP_INTERVAL": "1",
    "SHAZBOT_FAILURE_TIMEOUT": "60",
    "SHAZBOT_REQUEST_TIMEOUT": "2",
    "SHAZBOT_SHUTDOWN_TIMEOUT": "2",
    "SHAZBOT_MASTER_ANNOUNCE_MINIMUM": "300",
    "SHAZBOT_INDIRECT_PROBES": "3",
}


def views(servers: list[Server] | list[GunicornServer]) -> list[dict[str, bool]]:
    """Each running server's view, base URL -> online."""
    seen = []
    for server in servers:
        response = requests.get(
            f"{server.base_url}clustershazbot/list", headers={"Authorization": f"Bearer {GOSSIP_SECRET}"}, timeout=5
        )
        response.raise_for_status()
        body = response.json()
        seen.append({**{e["baseUrl"]: True for e in body["online"]}, **{e["baseUrl"]: False for e in body["offline"]}})
    return seen


def all_see(servers: list[Server] | list[GunicornServer], url: str, online: bool) -> bool:
    return all(view.get(url) is online for view in views(servers))


class Watcher:
    """Polls every listed server's /list and remembers who ever listed the
    watched URL offline (a false verdict, when the watched server is alive)."""

    def __init__(self, servers: Sequence[Server], watched: str) -> None:
        self.servers, self.watched = servers, watched
        self.offline_at: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            for server in self.servers:
                try:
                    response = server.get_list()
                    offline = {e["baseUrl"] for e in response.json()["offline"]}
                except (requests.RequestException, ValueError, KeyError):
                    continue
                if self.watched in offline:
                    self.offline_at.add(server.name)


@pytest.fixture
def detection_env(master_store: MasterListServer) -> dict[str, str]:
    from ..support.cluster import base_env

    return {**base_env(master_store.url), **DETECTION}


def seed(store: MasterListServer, urls: list[str]) -> None:
    """The servers find each other through the master list (they announce
    only every five minutes or more, so the list carries no heartbeats)."""
    now = int(time.time() * 1000)
    store.body = json.dumps(
        {"online": [{"baseUrl": url, "monitor": False, "lastUpdate": now} for url in urls]}
    ).encode()


@pytest.fixture
def gunicorns(tmp_path: Path) -> Iterator[Callable[[dict[str, str], int], list[GunicornServer]]]:
    started: list[GunicornServer] = []

    def start(env: dict[str, str], count: int) -> list[GunicornServer]:
        group = []
        for _ in range(count):
            home = tmp_path / f"g{len(started)}"
            home.mkdir()
            server = GunicornServer(env, home, workers=1)
            started.append(server)
            group.append(server)
        return group

    yield start
    for server in started:
        server.kill_all()


def start_seeded(store: MasterListServer, group: list[Any]) -> None:
    seed(store, [s.base_url for s in group])
    for server in group:
        server.start()
    urls = {s.base_url for s in group}
    wait_until(lambda: all(set(v) >= urls and all(v[u] for u in urls) for v in views(group)), timeout=60,
               what=f"{len(group)} servers to see each other online")


def test_a_killed_gunicorn_server_is_offline_everywhere_within_8_seconds(
    gunicorns: Callable[[dict[str, str], int], list[GunicornServer]],
    detection_env: dict[str, str],
    master_store: MasterListServer,
) -> None:
    cluster = gunicorns(detection_env, 5)
    start_seeded(master_store, cluster)
    victim, rest = cluster[0], cluster[1:]
    killed = time.monotonic()
    victim.kill_all()
    wait_until(lambda: all_see(rest, victim.base_url, online=False), timeout=30,
               what="the killed server offline everywhere")
    took = time.monotonic() - killed
    report("kill -9 of 1 of 5 gunicorn servers, interval 1 s, timeout 60 s", offline_everywhere_s=f"{took:.1f}")
    assert took <= 8, f"offline everywhere after {took:.1f}s"


def test_a_pause_shorter_than_the_request_timeout_is_never_an_offline_verdict(
    servers: Callable[..., Server], detection_env: dict[str, str], master_store: MasterListServer
) -> None:
    cluster = [servers(f"s{i}", detection_env, wait=False) for i in range(5)]
    start_seeded(master_store, cluster)
    paused, rest = cluster[0], cluster[1:]
    assert paused.process is not None
    with Watcher(rest, paused.base_url) as watcher:
        for _ in range(4):  # several short pauses, each under the 2 s request timeout
            os.killpg(paused.process.pid, signal.SIGSTOP)
            time.sleep(1.0)  # the fault being injected: a 1 s stop
            os.killpg(paused.process.pid, signal.SIGCONT)
            time.sleep(1.0)
        # Let any verdict that was under way land before judging.
        wait_until(lambda: all_see(rest, paused.base_url, online=True), timeout=10, what="the paused server online")
        deadline = time.monotonic() + 5
        wait_until(lambda: time.monotonic() > deadline, timeout=10, what="a quiet window after the pauses")
    assert watcher.offline_at == set(), f"listed offline at {sorted(watcher.offline_at)}"


def test_a_long_pause_is_detected_and_the_server_is_online_again_soon_after_it_resumes(
    servers: Callable[..., Server], detection_env: dict[str, str], master_store: MasterListServer
) -> None:
    cluster = [servers(f"s{i}", detection_env, wait=False) for i in range(5)]
    start_seeded(master_store, cluster)
    paused, rest = cluster[0], cluster[1:]
    assert paused.process is not None
    os.killpg(paused.process.pid, signal.SIGSTOP)
    try:
        wait_until(lambda: all_see(rest, paused.base_url, online=False), timeout=30,
                   what="the stopped server offline everywhere")
    finally:
        os.killpg(paused.process.pid, signal.SIGCONT)
    resumed = time.monotonic()
    wait_until(lambda: all_see(cluster, paused.base_url, online=True), timeout=30,
               what="the resumed server online everywhere")
    took = time.monotonic() - resumed
    report("SIGSTOP until detected, then SIGCONT", online_everywhere_again_s=f"{took:.1f}")
    assert took <= 10, f"online everywhere again only after {took:.1f}s"


def test_one_broken_link_does_not_get_a_server_declared_offline(
    proxied: Callable[..., ProxiedServer], detection_env: dict[str, str], master_store: MasterListServer
) -> None:
    cluster = [proxied(f"p{i}", detection_env, wait=False) for i in range(5)]
    start_seeded(master_store, cluster)
    target, cut_off = cluster[0], cluster[1]
    # Every request from cut_off to target is dropped; everyone else gets through.
    with target.proxy.lock:
        target.proxy.blocked_senders.add(cut_off.base_url)
    with Watcher(cluster[1:], target.base_url) as watcher:
        wait_until(lambda: target.proxy.count(cut_off.base_url) >= 4, timeout=60,
                   what="the cut-off server to try the target several times")
        deadline = time.monotonic() + 5
        wait_until(lambda: time.monotonic() > deadline, timeout=10, what="a quiet window")
    assert watcher.offline_at == set(), f"listed offline at {sorted(watcher.offline_at)}"
