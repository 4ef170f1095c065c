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

from ..support.cluster import free_port
from ..support.fake_peer import FakePeer
from ..support.masterlist_server import MasterListServer
from ..support.stub_peer import StubPeer
from ..support.waiting import wait_until

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
    app = member(tmp_path, 5000, SHAZBOT_MAX_ENTRIES_PER_MESSAGE=120, SHAZBOT_MAX_VIEW_SIZE=120)
    shazbot: Shazbot = app.extensions["shazbot"]
    client = app.test_client()
    too_many = {"message": "gossip", "online": [now_entry(f"http://fake{i}.example/") for i in range(121)]}
    response = client.post("/clustershazbot/gossip", json=too_many, headers={"Authorization": GOSSIP})
    assert response.status_code == 413 and "at most 120" in response.get_json()["error"]
    assert len(shazbot.servers()) == 1
    for batch in range(20):
        flood = {"message": "gossip",
                 "online": [now_entry(f"http://fake{batch}-{i}.example/") for i in range(50)]}
        assert client.post("/clustershazbot/gossip", json=flood, headers={"Authorization": GOSSIP}).status_code == 200
    assert len(shazbot.servers()) == 120
    assert "SHAZBOT_MAX_VIEW_SIZE" in caplog.text and "SHAZBOT_MAX_ENTRIES_PER_MESSAGE" in caplog.text


def test_gossip_answers_fit_what_a_peer_with_the_same_settings_accepts(tmp_path: Any) -> None:
    """A view of long URLs larger than SHAZBOT_MAX_CONTENT_LENGTH is answered
    trimmed: own entry, online peers, then the newest offline ones."""
    import time

    limit = 65536
    app = member(tmp_path, 5000, SHAZBOT_MAX_CONTENT_LENGTH=limit)
    client = app.test_client()
    now = int(time.time() * 1000)
    online = [now_entry(f"http://up{i}.example/{'u' * 2000}") for i in range(5)]
    offline = [{"baseUrl": f"http://down{i}.example/{'d' * 2000}/", "monitor": False, "lastUpdate": now - 1000 * i}
               for i in range(60)]
    for chunk in range(0, 60, 20):  # each request under the byte cap
        body = {"message": "gossip", "online": online if chunk == 0 else [], "offline": offline[chunk:chunk + 20]}
        assert client.post("/clustershazbot/gossip", json=body, headers={"Authorization": GOSSIP}).status_code == 200
    listed = client.get("/clustershazbot/list", headers={"Authorization": GOSSIP}).get_json()
    assert len(listed["online"]) == 6 and len(listed["offline"]) == 60  # the view holds everything
    answer = client.post("/clustershazbot/gossip", json={"message": "gossip", "online": []},
                         headers={"Authorization": GOSSIP})
    assert answer.status_code == 200 and len(answer.get_data()) <= limit
    data = answer.get_json()
    assert {s["baseUrl"] for s in data["online"]} == {s["baseUrl"] for s in listed["online"]}
    kept = {s["baseUrl"] for s in data["offline"]}
    assert 10 < len(kept) < 60
    assert kept == {s["baseUrl"] for s in offline[: len(kept)]}  # the newest


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


# -- nothing from an unauthenticated request is retained (issue 9, item 5) ----


def test_unauthenticated_requests_with_unique_senders_leave_no_trace(tmp_path: Any) -> None:
    from flask_clustershazbot.urls import normalize_base_url

    app = member(tmp_path, 5000)
    client = app.test_client()
    message = {"message": "gossip", "online": [now_entry("http://peer.example/")]}
    before = normalize_base_url.cache_info().currsize
    for index in range(3000):
        sender = f"http://sender-{index}.example/{'p' * 1500}/"
        for auth in ({}, {"Authorization": "Bearer wrong"}):
            response = client.post("/clustershazbot/gossip", json=message,
                                   headers={**auth, "X-Clustershazbot-Sender": sender})
            assert response.status_code == 401
    assert normalize_base_url.cache_info().currsize == before


def test_url_normalisation_cache_is_bounded_in_bytes() -> None:
    import gc
    import tracemalloc

    from flask_clustershazbot.urls import normalize_base_url

    normalize_base_url("http://warm-up.example/")
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for index in range(6000):  # ~24 MB of distinct 2 KB URLs, key and value
            normalize_base_url(f"http://h{index}.example/{'x' * 1990}")
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 8 * 1024 * 1024, f"the URL cache kept {grown / 2**20:.1f} MiB"


# -- control characters in base URLs (issue 15, item 6) -----------------------

NASTY_URLS = [
    "http://evil.example/\x9b2J/", "http://evil.example/\x9d0;pwned\x9c/", "http://evil.example/\x1b[2J/",
    "http://evil.example/\u202egnp.exe/", "http://evil\u200b.example/", "http://evil.example/\u2028x/",
    "http://evil.example/\u2066x\u2069/", "http://evil.example/\x85/", "http://evil.example/\x7f/",
    "http://evil.example/\ufeff/", "http://evil.example/\u00ad/", "http://evil\u3000.example/",
]


@pytest.mark.parametrize("url", NASTY_URLS, ids=[f"{i}" for i in range(len(NASTY_URLS))])
def test_gossip_with_a_non_printable_url_is_refused_and_changes_nothing(tmp_path: Any, url: str) -> None:
    app = member(tmp_path, 5000)
    shazbot: Shazbot = app.extensions["shazbot"]
    before = shazbot.view()
    message = {"message": "gossip", "online": [now_entry("http://good.example/"), now_entry(url)]}
    response = app.test_client().post("/clustershazbot/gossip", json=message, headers={"Authorization": GOSSIP})
    assert response.status_code == 400 and response.is_json
    assert "Not a valid base URL" in response.get_data(as_text=True)
    assert url not in response.get_data(as_text=True)
    assert shazbot.view() == before


def test_a_non_printable_sender_header_reaches_no_log(tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="flask_clustershazbot")
    app = member(tmp_path, 5000, SHAZBOT_MAX_ENTRIES_PER_MESSAGE=2, SHAZBOT_MAX_VIEW_SIZE=2)
    message = {"message": "gossip", "online": [now_entry(f"http://p{i}.example/") for i in range(3)]}
    for sender in ("http://x.example/\x9b2J/", "\x1b]0;title\x07", "http://x.example/\u202e/"):
        response = app.test_client().post("/clustershazbot/gossip", json=message,
                                          headers={"Authorization": GOSSIP, "X-Clustershazbot-Sender": sender})
        assert response.status_code == 413
    assert "listing 3 servers" in caplog.text
    assert all(char.isprintable() for record in caplog.records for char in record.getMessage())


# -- headers (issue 15, "Also") -----------------------------------------------


def test_authenticated_json_answers_are_never_cached(tmp_path: Any) -> None:
    app = member(tmp_path, 5000)
    client = app.test_client()
    answers = {
        "gossip": client.post("/clustershazbot/gossip", json={"message": "gossip", "online": []},
                              headers={"Authorization": GOSSIP}),
        "list": client.get("/clustershazbot/list", headers={"Authorization": GOSSIP}),
        "control": client.post("/clustershazbot/control", json={"message": "control", "online": True},
                               headers={"Authorization": CONTROL}),
        "status.json": client.get("/clustershazbot/status.json", auth=("ops", CONTROL)),
        "refused": client.get("/clustershazbot/list", headers={"Authorization": "wrong"}),
        "invalid": client.post("/clustershazbot/gossip", data=b"{", headers={"Authorization": GOSSIP}),
    }
    for name, response in answers.items():
        assert response.is_json, name
        assert response.headers.get("Cache-Control") == "no-store", name


def test_status_page_cannot_be_framed(tmp_path: Any) -> None:
    app = member(tmp_path, 5000)
    response = app.test_client().get("/clustershazbot/", auth=("ops", CONTROL))
    assert response.status_code == 200
    policy = [part.strip() for part in response.headers["Content-Security-Policy"].split(";")]
    assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
    assert response.headers["X-Frame-Options"] == "DENY"
