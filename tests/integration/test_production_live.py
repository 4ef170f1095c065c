"""Signals from the running loop and ``flask shazbot status`` against a live
server: the tests of test_production.py that need real sockets or processes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_clustershazbot import Shazbot, signals

from ..support.cluster import GOSSIP_SECRET, Server
from ..support.stub_peer import StubPeer
from ..support.waiting import wait_until


def test_signals_once_per_transition_from_the_loop(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    stub = StubPeer(GOSSIP_SECRET).start()
    (tmp_path / "masterlist.json").write_text(json.dumps({"online": [stub.entry()]}))
    app = make_app(SHAZBOT_GOSSIP_INTERVAL=0.1)
    shazbot: Shazbot = app.extensions["shazbot"]
    events: list[tuple[str, str]] = []
    changes: list[dict[str, Any]] = []

    def on_online(sender: Flask, base_url: str, entry: Any) -> None:
        assert sender is app
        events.append(("online", base_url))

    def on_offline(sender: Flask, base_url: str, entry: Any) -> None:
        events.append(("offline", base_url))

    def on_change(sender: Flask, **changed: Any) -> None:
        changes.append(changed)

    signals.server_online.connect(on_online, sender=app)
    signals.server_offline.connect(on_offline, sender=app)
    signals.view_changed.connect(on_change, sender=app)
    try:
        shazbot.start()
        wait_until(lambda: ("online", stub.base_url) in events, what="the peer signalled online")
        assert ("online", "http://127.0.0.1:5999/") in events
        # A claim, dated 3 s ahead, that the peer is offline: believed until
        # the peer's own heartbeats pass it.
        claim = {**stub.entry(), "lastUpdate": int(time.time() * 1000) + 3000}
        app.test_client().post("/clustershazbot/gossip", headers={"Authorization": GOSSIP_SECRET},
                               json={"message": "gossip", "online": [], "offline": [claim]})
        wait_until(lambda: ("offline", stub.base_url) in events, what="the peer signalled offline")
        wait_until(lambda: events.count(("online", stub.base_url)) == 2, timeout=20, what="back online")
        time.sleep(0.5)  # several more ticks: nothing is signalled twice
    finally:
        shazbot.shutdown()
        stub.stop()
        for signal, receiver in ((signals.server_online, on_online), (signals.server_offline, on_offline),
                                 (signals.view_changed, on_change)):
            signal.disconnect(receiver)
    peer_events = [kind for kind, url in events if url == stub.base_url]
    assert peer_events[:3] == ["online", "offline", "online"]
    assert any(stub.base_url in c["offline"] for c in changes)


def test_cli_status_colours_only_for_a_terminal_and_watch(
    make_app: Callable[..., Flask], servers: Callable[..., Server], http_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = servers("watched", http_env)
    runner = make_app(SHAZBOT_BASE_URL=server.base_url).test_cli_runner()
    plain = runner.invoke(args=["shazbot", "status"])
    coloured = runner.invoke(args=["shazbot", "status"], color=True)
    assert "\x1b[" not in plain.output and "\x1b[32m" in coloured.output

    def interrupt(seconds: float) -> None:  # Ctrl-C after the first redraw
        raise KeyboardInterrupt

    monkeypatch.setattr("flask_clustershazbot.cli.time.sleep", interrupt)
    watched = runner.invoke(args=["shazbot", "status", "--watch"])
    assert watched.exit_code == 0 and "Ctrl-C" in watched.output and "1 online, 0 offline" in watched.output
