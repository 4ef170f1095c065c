"""Health for load balancers, metrics, and the extra CLI commands (signals
from the running loop and `shazbot status` against a live server are in
tests/integration/test_production_live.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from flask_clustershazbot import Shazbot

from ..support.cluster import CONTROL_SECRET, GOSSIP_SECRET


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
