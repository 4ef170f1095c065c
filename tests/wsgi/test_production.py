"""Health for load balancers, signals, metrics, and the extra CLI commands."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_clustershazbot import Shazbot, signals

from ..support.cluster import CONTROL_SECRET, GOSSIP_SECRET, Server
from ..support.stub_peer import StubPeer
from ..support.waiting import wait_until


def test_health_needs_no_secret_and_follows_drain_and_shutdown(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    client = app.test_client()
    shazbot: Shazbot = app.extensions["shazbot"]
    assert client.get("/clustershazbot/health").status_code == 200
    assert client.get("/clustershazbot/health").get_json() == {"online": True}
    shazbot.set_online(False)
    assert client.get("/clustershazbot/health").status_code == 503
    shazbot.set_online(True)
    assert client.get("/clustershazbot/health").status_code == 200
    shazbot.start()
    shazbot.shutdown()
    assert client.get("/clustershazbot/health").status_code == 503


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


def test_metrics_need_a_secret_and_count(make_app: Callable[..., Flask]) -> None:
    pytest.importorskip("prometheus_client")  # the `metrics` extra
    app = make_app()
    client = app.test_client()
    assert client.get("/clustershazbot/metrics").status_code == 401
    for _ in range(3):
        client.post("/clustershazbot/gossip", headers={"Authorization": GOSSIP_SECRET},
                    json={"message": "gossip", "online": []})
    text = client.get("/clustershazbot/metrics", headers={"Authorization": CONTROL_SECRET}).get_data(as_text=True)
    assert "shazbot_exchanges_received_total 3.0" in text
    assert 'shazbot_servers{status="online"} 1.0' in text
    assert "shazbot_self_online 1.0" in text
    assert 'shazbot_entries_refused_total{reason="future"} 0.0' in text


def test_cli_masterlist(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    now = int(time.time() * 1000)
    (tmp_path / "masterlist.json").write_text(json.dumps({
        "online": [{"baseUrl": "http://a/", "monitor": True, "lastUpdate": now}],
        "offline": [{"baseUrl": "http://b/", "monitor": False, "lastUpdate": now - 90_000}],
    }))
    runner = make_app().test_cli_runner()
    table = runner.invoke(args=["shazbot", "masterlist"])
    assert table.exit_code == 0
    assert [line.split()[:3] for line in table.output.splitlines()[1:3]] == [
        ["http://a/", "online", "yes"], ["http://b/", "offline", "no"]]
    assert "1.5m ago" in table.output
    assert json.loads(runner.invoke(args=["shazbot", "masterlist", "--json"]).output)["offline"][0]["baseUrl"] == (
        "http://b/")


def test_cli_masterlist_error_is_one_line(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    (tmp_path / "masterlist.json").write_text("{broken")
    result = make_app().test_cli_runner().invoke(args=["shazbot", "masterlist"])
    assert result.exit_code == 1 and "not a valid server list" in result.output and "Traceback" not in result.output


def test_cli_status_colours_only_for_a_terminal_and_watch(
    make_app: Callable[..., Flask], servers: Callable[..., Server], http_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = servers("watched", http_env)
    runner = make_app(SHAZBOT_BASE_URL=server.base_url).test_cli_runner()
    plain = runner.invoke(args=["shazbot", "status"])
    coloured = runner.invoke(args=["shazbot", "status"], color=True)
    assert "\x1b[" not in plain.output and "\x1b[32m" in coloured.output

    import flask_clustershazbot.cli as cli

    def interrupt(seconds: float) -> None:  # Ctrl-C after the first redraw
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.time, "sleep", interrupt)
    watched = runner.invoke(args=["shazbot", "status", "--watch"])
    assert watched.exit_code == 0 and "Ctrl-C" in watched.output and "1 online, 0 offline" in watched.output
