"""Two apps on one SHAZBOT_STATE_PATH are two processes of one server (as
gunicorn workers are): one view, and metrics that count for the server."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from ..support.cluster import CONTROL_SECRET, GOSSIP_SECRET


def test_processes_sharing_a_state_file_report_the_server_totals(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    pytest.importorskip("prometheus_client")  # the `metrics` extra
    state = str(tmp_path / "state.sqlite3")
    now = int(time.time() * 1000)
    workers = [make_app(SHAZBOT_STATE_PATH=state).test_client() for _ in range(2)]
    for posts, client in zip((2, 3), workers, strict=True):
        for _ in range(posts):
            response = client.post("/clustershazbot/gossip", headers={"Authorization": GOSSIP_SECRET},
                                   json={"message": "gossip", "online": [
                                       {"baseUrl": "http://peer/", "monitor": False, "lastUpdate": now}]})
            assert response.status_code == 200
    for client in workers:
        text = client.get("/clustershazbot/metrics", headers={"Authorization": CONTROL_SECRET}).get_data(
            as_text=True)
        assert "shazbot_exchanges_received_total 5.0" in text
        assert 'shazbot_servers{status="online"} 2.0' in text
        listed = client.get("/clustershazbot/list", headers={"Authorization": GOSSIP_SECRET}).get_json()
        assert [e["baseUrl"] for e in listed["online"]] == ["http://127.0.0.1:5999/", "http://peer/"]
