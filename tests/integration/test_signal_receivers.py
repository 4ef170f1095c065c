"""Signal receivers among real servers (issue 15, item 3): a Flask app with
Shazbot served in-process on a real 127.0.0.1 port, with real peer servers. A
raising receiver loses no transition, for the others or for itself later, and
a blocking receiver never stalls the server's heartbeats."""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

from flask_clustershazbot import Shazbot, signals

from ..support.cluster import CONTROL_SECRET, FAST, GOSSIP_SECRET, Server, base_env, free_port
from ..support.waiting import wait_until

# -- real servers ----------------------------------------------------------------


class QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # a line per gossip POST would bury what a failure logs


class InProcessServer:
    """A Flask app with Shazbot, served by werkzeug in a thread of this process."""

    def __init__(self, tmp_path: Path, master_list_uri: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/"
        self.app = Flask("signals_app")
        self.app.config.update({
            **FAST,
            "SHAZBOT_SECRET": GOSSIP_SECRET,
            "SHAZBOT_CONTROL_SECRET": CONTROL_SECRET,
            "SHAZBOT_BASE_URL": self.base_url,
            "SHAZBOT_MASTER_LIST": master_list_uri,
            "SHAZBOT_MASTER_LIST_UPDATE": master_list_uri,
            "SHAZBOT_AUTOSTART": False,
        })
        self.shazbot = Shazbot(self.app)
        self._http = make_server("127.0.0.1", self.port, self.app, threaded=True, request_handler=QuietHandler)
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._connected: list[tuple[Any, Callable[..., None]]] = []

    def connect(self, sig: Any, receiver: Callable[..., None]) -> None:
        sig.connect(receiver, sender=self.app)
        self._connected.append((sig, receiver))

    def start(self) -> InProcessServer:
        self._thread.start()
        self.shazbot.start()
        return self

    def stop(self) -> None:
        self.shazbot.shutdown()
        self._http.shutdown()
        for sig, receiver in self._connected:
            sig.disconnect(receiver)


@pytest.fixture
def cluster(tmp_path: Path, servers: Callable[..., Server]) -> Iterator[tuple[InProcessServer, list[Server]]]:
    """Three real peers, all in the master list, then the in-process server
    (not started: the test connects its receivers first)."""
    master_list = tmp_path / "masterlist.json"
    master_list.write_text(json.dumps({"online": [], "offline": []}))
    env = base_env(master_list.as_uri())
    peers = [servers(f"peer{i}", env) for i in range(3)]

    def listed_online() -> bool:
        online = {s["baseUrl"] for s in json.loads(master_list.read_text())["online"]}
        return {p.base_url for p in peers} <= online

    wait_until(listed_online, timeout=30, what="the peers in the master list")
    member = InProcessServer(tmp_path, master_list.as_uri())
    yield member, peers
    member.stop()


def test_a_raising_receiver_loses_no_transition(
    cluster: tuple[InProcessServer, list[Server]], caplog: pytest.LogCaptureFixture
) -> None:
    member, peers = cluster
    everyone = {member.base_url, *(p.base_url for p in peers)}
    raising_calls: list[tuple[str, str]] = []
    first: list[str] = []
    online: list[str] = []
    offline: list[str] = []
    changes: list[dict[str, Any]] = []

    def raising_receiver(kind: str) -> Callable[..., None]:
        def receive(sender: Flask, base_url: str, entry: Any) -> None:
            raising_calls.append((kind, base_url))
            first[:] = first or [base_url]
            if base_url == first[0]:
                raise RuntimeError("receiver bug for the first server")

        return receive

    # Connected first, so that today's blinker send stops at it.
    member.connect(signals.server_online, raising_receiver("online"))
    member.connect(signals.server_offline, raising_receiver("offline"))
    member.connect(signals.server_online, lambda sender, base_url, entry: online.append(base_url))
    member.connect(signals.server_offline, lambda sender, base_url, entry: offline.append(base_url))
    member.connect(signals.view_changed, lambda sender, **changed: changes.append(changed))
    with caplog.at_level(logging.ERROR, "flask_clustershazbot"):
        member.start()
        wait_until(lambda: set(online) == everyone, timeout=30, what="every server signalled online")
        wait_until(lambda: everyone <= {u for c in changes for u in c["online"]}, timeout=30,
                   what="view_changed naming every server")
        wait_until(lambda: {u for kind, u in raising_calls if kind == "online"} == everyone, timeout=30,
                   what="the raising receiver to get the later servers too")
        assert "raising_receiver" in caplog.text  # the log names the receiver that failed

        # A later transition still reaches everyone.
        victim = next(p for p in peers if p.base_url != first[0])
        victim.stop(signal.SIGKILL)
        wait_until(lambda: victim.base_url in offline, timeout=30, what="the killed peer signalled offline")
        wait_until(lambda: ("offline", victim.base_url) in raising_calls, timeout=30,
                   what="the raising receiver to hear the killed peer offline")
        wait_until(lambda: any(victim.base_url in c["offline"] for c in changes), timeout=30,
                   what="view_changed naming the killed peer")
    assert sorted(online) == sorted(everyone)  # once per transition, no repeats


def entry_seen_by(peer: Server, base_url: str) -> tuple[bool, int] | None:
    view = peer.raw_view()
    for key in ("online", "offline"):
        for item in view[key]:
            if item["baseUrl"] == base_url:
                return key == "online", int(item["lastUpdate"])
    return None


BLOCK_SECONDS = 8.0  # over 2.5 failure timeouts at the FAST settings


def test_a_blocking_receiver_does_not_stall_heartbeats(cluster: tuple[InProcessServer, list[Server]]) -> None:
    member, peers = cluster
    drained, watchers = peers[0], peers[1:]
    entered, release, returned = threading.Event(), threading.Event(), threading.Event()
    online: list[str] = []

    def slow_receiver(sender: Flask, base_url: str, entry: Any) -> None:
        if base_url != drained.base_url or entered.is_set():
            return
        entered.set()
        release.wait(BLOCK_SECONDS)
        returned.set()

    member.connect(signals.server_offline, slow_receiver)
    member.connect(signals.server_online, lambda sender, base_url, entry: online.append(base_url))
    try:
        member.start()
        wait_until(lambda: all((entry_seen_by(w, member.base_url) or (False, 0))[0] for w in watchers),
                   timeout=30, what="the peers to list the member online")
        assert drained.control(False).json() == {"success": True}
        wait_until(entered.is_set, timeout=30, what="the slow receiver to start blocking")
        samples: list[tuple[str, bool, int]] = []
        while not returned.is_set():  # sample the whole time the receiver blocks
            for watcher in watchers:
                seen = entry_seen_by(watcher, member.base_url)
                assert seen is not None
                samples.append((watcher.name, *seen))
            returned.wait(0.2)
    finally:
        release.set()
    listed_offline = [s for s in samples if not s[1]]
    assert not listed_offline, listed_offline
    for watcher in watchers:
        versions = [version for name, _, version in samples if name == watcher.name]
        # Heartbeats went on: the member's version grew by most of the block.
        assert max(versions) - min(versions) >= 0.5 * BLOCK_SECONDS * 1000, (watcher.name, versions)
    # Signals delayed by the slow receiver still come, afterwards.
    drained.control(True)
    wait_until(lambda: online.count(drained.base_url) == 2, timeout=30, what="the drained peer signalled back")
