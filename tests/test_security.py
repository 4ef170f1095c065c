"""Security properties: secrets never leak, the peer allow-list holds, caps
bound a flood, redirects are never followed."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from werkzeug.serving import make_server

from flask_clustershazbot import ConfigError, Shazbot, load_config

from .support.cluster import free_port
from .support.fake_peer import FakePeer
from .support.masterlist_server import MasterListServer
from .support.stub_peer import StubPeer
from .support.waiting import wait_until

GOSSIP = "gossip-s3cret-value"
ROTATED = "rotated-s3cret-value"
CONTROL = "control-s3cret-value"
STORE_TOKEN = "Bearer wr0ng-store-token"


@pytest.fixture
def serve() -> Iterator[Callable[[Flask, int], None]]:
    servers = []

    def run(app: Flask, port: int) -> None:
        server = make_server("127.0.0.1", port, app, threaded=True)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()

    yield run
    for server in servers:
        server.shutdown()


def member(tmp_path: Any, port: int, **config: Any) -> Flask:
    app = Flask(f"member-{port}")
    defaults = {
        "SHAZBOT_SECRET": f"{GOSSIP},{ROTATED}",
        "SHAZBOT_CONTROL_SECRET": CONTROL,
        "SHAZBOT_BASE_URL": f"http://127.0.0.1:{port}/",
        "SHAZBOT_MASTER_LIST": f"file://{tmp_path}/list.json",
        "SHAZBOT_MASTER_LIST_UPDATE": f"file://{tmp_path}/list.json",
        "SHAZBOT_AUTOSTART": False,
        "SHAZBOT_GOSSIP_INTERVAL": 0.1,
    }
    app.config.update({**defaults, **config})
    Shazbot(app)
    return app


def now_entry(url: str) -> dict[str, Any]:
    import time

    return {"baseUrl": url, "monitor": False, "lastUpdate": int(time.time() * 1000)}


def test_no_secret_in_any_log_line_error_body_or_exception(
    tmp_path: Any, caplog: pytest.LogCaptureFixture, serve: Callable[[Flask, int], None]
) -> None:
    caplog.set_level(logging.DEBUG)
    store = MasterListServer(auth="Bearer the-right-store-token").start()
    failing = FakePeer(500, b"<html>oops</html>", "text/html")
    port = free_port()
    app = member(
        tmp_path, port,
        SHAZBOT_MASTER_LIST=store.url, SHAZBOT_MASTER_LIST_UPDATE=store.url,
        SHAZBOT_MASTER_LIST_UPDATE_AUTH=STORE_TOKEN,  # wrong: every write is refused
        SHAZBOT_MASTER_ANNOUNCE_MINIMUM=0.1, SHAZBOT_MASTER_ANNOUNCE_INTERVAL=0.1,
        SHAZBOT_UPDATE_MASTER_LIST_ON_SHUTDOWN=True, SHAZBOT_FAILURE_TIMEOUT=0.5,
    )
    shazbot: Shazbot = app.extensions["shazbot"]
    serve(app, port)
    shazbot.start()
    base = f"http://127.0.0.1:{port}/clustershazbot"
    bodies: list[str] = []
    try:
        peers = {"message": "gossip", "online": [now_entry(failing.base_url), now_entry(f"http://127.0.0.1:{free_port()}/")]}
        for auth in (f"Bearer {ROTATED}", f"Bearer {CONTROL}", GOSSIP[:-1], f"Basic {GOSSIP}"):
            bodies.append(requests.post(f"{base}/gossip", json=peers, headers={"Authorization": auth}, timeout=5).text)
        for auth in (f"Bearer {GOSSIP}", CONTROL):
            bodies.append(requests.post(f"{base}/control", json={"message": "control", "online": False},
                                        headers={"Authorization": auth}, timeout=5).text)
        bad = requests.post(f"{base}/control", data=b"{bad", headers={"Authorization": CONTROL}, timeout=5)
        bodies.append(bad.text)
        shazbot.set_online(True)
        wait_until(lambda: shazbot.node.counters["master_list_write_failures"] >= 1
                   and shazbot.node.counters["exchanges_failed"] >= 2
                   and shazbot.node.counters["failures_detected"] >= 1, timeout=20, what="errors of every kind")
    finally:
        shazbot.shutdown()
        failing.stop()
        store.stop()
    with pytest.raises(ConfigError) as config_error:
        load_config({"SHAZBOT_SECRET": GOSSIP, "SHAZBOT_CONTROL_SECRET": GOSSIP,
                     "SHAZBOT_MASTER_LIST_UPDATE_AUTH": STORE_TOKEN}, environ={})
    everything = "\n".join([caplog.text, *bodies, str(config_error.value), repr(config_error.value)])
    assert "could not write the master list" in caplog.text and "HTTP 401" in caplog.text
    for secret in (GOSSIP, ROTATED, CONTROL, STORE_TOKEN, STORE_TOKEN.split()[1]):
        assert secret not in everything


def test_entries_outside_the_allow_list_are_refused_and_never_contacted(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    stub = StubPeer(GOSSIP).start()  # on 127.0.0.1, which the allow-list leaves out
    (tmp_path / "list.json").write_text('{"online": [' + __import__("json").dumps(stub.entry()) + "]}")
    port = free_port()
    app = member(tmp_path, port, SHAZBOT_BASE_URL=f"http://localhost:{port}/",
                 SHAZBOT_ALLOWED_PEERS="localhost, *.internal.example, 10.0.0.0/8")
    shazbot: Shazbot = app.extensions["shazbot"]
    response = app.test_client().post("/clustershazbot/gossip", headers={"Authorization": GOSSIP}, json={
        "message": "gossip",
        "online": [now_entry("http://a.internal.example/"), now_entry("http://10.1.2.3:8000/"),
                   now_entry("http://169.254.169.254/"), now_entry("http://evil.example/")],
    })
    assert response.status_code == 200
    assert {s.base_url for s in shazbot.servers()} == {
        f"http://localhost:{port}/", "http://a.internal.example/", "http://10.1.2.3:8000/"}
    assert "outside SHAZBOT_ALLOWED_PEERS" in caplog.text and "169.254.169.254" in caplog.text
    shazbot.start()
    try:
        wait_until(lambda: shazbot.node.counters["master_list_reads"] >= 1, what="the master list read")
        wait_until(lambda: shazbot.node.counters["exchanges_sent"] >= 5, what="a few ticks")
    finally:
        shazbot.shutdown()
        stub.stop()
    assert stub.count() == 0
    assert stub.base_url not in {s.base_url for s in shazbot.servers()}


def test_own_url_must_be_allowed(tmp_path: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        member(tmp_path, 5000, SHAZBOT_ALLOWED_PEERS="10.0.0.0/8")
    assert "SHAZBOT_ALLOWED_PEERS" in caught.value.problems


def test_caps_bound_a_flood_of_fake_servers(tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    app = member(tmp_path, 5000, SHAZBOT_MAX_ENTRIES_PER_MESSAGE=50, SHAZBOT_MAX_VIEW_SIZE=120)
    shazbot: Shazbot = app.extensions["shazbot"]
    client = app.test_client()
    too_many = {"message": "gossip", "online": [now_entry(f"http://fake{i}.example/") for i in range(51)]}
    response = client.post("/clustershazbot/gossip", json=too_many, headers={"Authorization": GOSSIP})
    assert response.status_code == 413 and "at most 50" in response.get_json()["error"]
    assert len(shazbot.servers()) == 1
    for batch in range(20):
        flood = {"message": "gossip",
                 "online": [now_entry(f"http://fake{batch}-{i}.example/") for i in range(50)]}
        assert client.post("/clustershazbot/gossip", json=flood, headers={"Authorization": GOSSIP}).status_code == 200
    assert len(shazbot.servers()) == 120
    assert "SHAZBOT_MAX_VIEW_SIZE" in caplog.text and "SHAZBOT_MAX_ENTRIES_PER_MESSAGE" in caplog.text


def test_redirects_are_never_followed(tmp_path: Any) -> None:
    target = StubPeer(GOSSIP).start()
    redirecting = FakePeer(307, headers={"Location": f"{target.base_url}clustershazbot/gossip"})
    app = member(tmp_path, 5000)
    shazbot: Shazbot = app.extensions["shazbot"]
    message = shazbot.node.server_list()
    from flask_clustershazbot.wire import encode_gossip

    try:
        assert shazbot.node.exchange_with(redirecting.base_url, encode_gossip(shazbot.node.entries())) is False
    finally:
        redirecting.stop()
        target.stop()
    assert redirecting.hits == 1 and target.count() == 0
    assert shazbot.node.counters["exchanges_failed_http_307"] == 1
    assert message
