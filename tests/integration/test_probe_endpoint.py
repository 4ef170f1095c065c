"""``POST {prefix}/probe``, the witness side of fast failure detection, and
the asker's client for it (docs/protocol.md section 8.4): real peers on
127.0.0.1, the app through Flask's test client."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from flask_clustershazbot.detection import MAX_WITNESS_CHECKS
from flask_clustershazbot.transport import PeerClient

from ..support.cluster import CONTROL_SECRET, GOSSIP_SECRET
from ..support.fake_peer import FakePeer
from ..support.stub_peer import StubPeer

AUTH = {"Authorization": f"Bearer {GOSSIP_SECRET}"}
REQUEST_TIMEOUT = 1.0


@pytest.fixture
def stub() -> Iterator[StubPeer]:
    peer = StubPeer(GOSSIP_SECRET).start()
    yield peer
    peer.stop()


@pytest.fixture
def blackhole() -> Iterator[str]:
    """A port that accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    listener.close()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/"


def running(app: Flask) -> Flask:
    """Start the app's member: its first tick, at once, is what tells its
    witnesses that the server is healthy."""
    app.extensions["shazbot"].start()
    app.extensions["shazbot"].start()  # idempotent
    return app


def introduce(client: FlaskClient, *urls: str) -> None:
    """Make ``urls`` known to the server behind ``client`` (a witness checks
    members only), as gossip from a peer would."""
    now = int(time.time() * 1000)
    response = client.post("/clustershazbot/gossip", headers=AUTH, json={
        "message": "gossip", "online": [{"baseUrl": u, "monitor": False, "lastUpdate": now} for u in urls]})
    assert response.status_code == 200


def wait_healthy(client: FlaskClient) -> None:
    """Poll until the server judges as a witness: a closed port it knows is
    "unreachable", not 503."""
    from ..support.waiting import wait_until

    closed = closed_port_url()
    introduce(client, closed)
    wait_until(lambda: probe(client, closed) == (200, {"reachable": False}), timeout=20,
               what="the witness to have ticked")


@pytest.fixture
def client(make_app: Callable[..., Flask]) -> FlaskClient:
    return running(make_app(SHAZBOT_REQUEST_TIMEOUT=REQUEST_TIMEOUT)).test_client()


def probe(client: FlaskClient, base_url: object, headers: dict[str, str] = AUTH) -> tuple[int, object]:
    response = client.post("/clustershazbot/probe", json={"baseUrl": base_url}, headers=headers)
    return response.status_code, response.get_json()


def test_a_peer_that_answers_gossip_is_reachable(client: FlaskClient, stub: StubPeer) -> None:
    introduce(client, stub.base_url)
    assert probe(client, stub.base_url) == (200, {"reachable": True})
    # The witness ran a real, authenticated exchange with it.
    assert stub.count() >= 1


def test_a_closed_port_is_unreachable_at_once(client: FlaskClient) -> None:
    closed = closed_port_url()
    introduce(client, closed)
    wait_healthy(client)
    began = time.monotonic()
    assert probe(client, closed) == (200, {"reachable": False})
    assert time.monotonic() - began < REQUEST_TIMEOUT + 1


def test_a_peer_that_never_answers_is_unreachable_within_the_request_timeout(
    client: FlaskClient, blackhole: str
) -> None:
    introduce(client, blackhole)
    wait_healthy(client)
    began = time.monotonic()
    assert probe(client, blackhole) == (200, {"reachable": False})
    assert time.monotonic() - began < REQUEST_TIMEOUT + 1.5


def test_the_probe_needs_the_gossip_secret(client: FlaskClient, stub: StubPeer) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {CONTROL_SECRET}"}):
        status, body = probe(client, stub.base_url, headers)
        assert status == 401 and isinstance(body, dict) and body["error"]
    assert stub.count() == 0


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b"{}", b'{"baseUrl": 7}', b'{"baseUrl": "ftp://x/"}', b'{"baseUrl": "http://a b/"}'],
)
def test_a_bad_probe_request_is_a_400_and_tries_nothing(client: FlaskClient, body: bytes) -> None:
    response = client.post(
        "/clustershazbot/probe", data=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.get_json()["error"]


def test_a_probe_never_targets_a_server_the_witness_does_not_know(client: FlaskClient, stub: StubPeer) -> None:
    status, body = probe(client, stub.base_url)
    assert status == 403 and isinstance(body, dict) and "knows" in body["error"]
    assert stub.count() == 0


def test_a_witness_that_is_not_running_abstains_rather_than_say_unreachable(
    make_app: Callable[..., Flask], stub: StubPeer
) -> None:
    client = make_app(SHAZBOT_REQUEST_TIMEOUT=REQUEST_TIMEOUT).test_client()  # never started: no tick
    closed = closed_port_url()
    introduce(client, closed, stub.base_url)
    status, body = probe(client, closed)
    assert status == 503 and isinstance(body, dict) and body["error"]
    # What it can see for itself it still says.
    assert probe(client, stub.base_url) == (200, {"reachable": True})


def test_a_witness_retries_a_refused_connection_but_not_a_wrong_answer(client: FlaskClient) -> None:
    wrong = FakePeer(500, b'{"error": "no"}')
    try:
        introduce(client, wrong.base_url)
        wait_healthy(client)
        assert probe(client, wrong.base_url) == (200, {"reachable": False})
        # A witness's tries carry its own entry alone; the loop's own
        # gossip (which may reach this peer too) carries the whole view.
        tries = [b for b in wrong.bodies if len(json.loads(b)["online"]) == 1]
        assert len(tries) == 1
    finally:
        wrong.stop()


def test_a_probe_never_targets_a_url_outside_the_allowed_peers(make_app: Callable[..., Flask], stub: StubPeer) -> None:
    client = make_app(SHAZBOT_ALLOWED_PEERS="10.0.0.0/8", SHAZBOT_BASE_URL="http://10.0.0.1:5999/").test_client()
    status, body = probe(client, stub.base_url)
    assert status == 403 and isinstance(body, dict) and "SHAZBOT_ALLOWED_PEERS" in body["error"]
    assert stub.count() == 0


def test_a_witness_checking_too_many_peers_says_it_is_not_a_witness(
    make_app: Callable[..., Flask], blackhole: str
) -> None:
    app = running(make_app(SHAZBOT_REQUEST_TIMEOUT=3))
    introduce(app.test_client(), blackhole)
    wait_healthy(app.test_client())
    results: list[int] = []

    def one() -> None:
        results.append(app.test_client().post("/clustershazbot/probe", json={"baseUrl": blackhole},
                                               headers=AUTH).status_code)

    threads = [threading.Thread(target=one) for _ in range(MAX_WITNESS_CHECKS + 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(set(results)) == [200, 503]
    assert results.count(200) == MAX_WITNESS_CHECKS


def client_for_asking() -> PeerClient:
    return PeerClient(secret=GOSSIP_SECRET, sender="http://127.0.0.1:5999/", url_prefix="/clustershazbot",
                      timeout=REQUEST_TIMEOUT, max_body=1 << 20)


def test_a_witness_that_never_answers_is_no_answer_but_a_refusal_is_one(blackhole: str) -> None:
    from flask_clustershazbot.transport import ExchangeError

    asker = client_for_asking()
    with pytest.raises(ExchangeError):
        asker.probe(closed_port_url(), "http://127.0.0.1:1/", REQUEST_TIMEOUT)
    with pytest.raises(ExchangeError):
        asker.probe(blackhole, "http://127.0.0.1:1/", REQUEST_TIMEOUT)


def test_a_peer_without_the_endpoint_is_not_a_witness() -> None:
    asker = client_for_asking()
    for status in (404, 405, 500, 503):
        peer = FakePeer(status, b'{"error": "no"}')
        try:
            assert asker.probe(peer.base_url, "http://127.0.0.1:1/", REQUEST_TIMEOUT) is None
        finally:
            peer.stop()


def test_an_answer_that_is_not_a_probe_answer_is_not_a_witness(stub: StubPeer) -> None:
    # The stub answers every POST with gossip, as an old peer might.
    assert client_for_asking().probe(stub.base_url, "http://127.0.0.1:1/", REQUEST_TIMEOUT) is None


def test_asking_a_witness_that_never_answers_ends_within_the_deadline(blackhole: str) -> None:
    from flask_clustershazbot.transport import ExchangeError

    began = time.monotonic()
    with pytest.raises(ExchangeError):
        client_for_asking().probe(blackhole, "http://127.0.0.1:1/", 1.0)
    assert time.monotonic() - began < 2.5


def test_the_asker_gets_the_witness_verdict_from_a_real_server(
    make_app: Callable[..., Flask], stub: StubPeer
) -> None:
    from werkzeug.serving import make_server

    app = running(make_app(SHAZBOT_REQUEST_TIMEOUT=REQUEST_TIMEOUT))
    closed = closed_port_url()
    introduce(app.test_client(), stub.base_url, closed)
    wait_healthy(app.test_client())
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        witness = f"http://127.0.0.1:{server.server_port}/"
        asker = client_for_asking()
        assert asker.probe(witness, stub.base_url, 2 * REQUEST_TIMEOUT) is True
        assert asker.probe(witness, closed, 2 * REQUEST_TIMEOUT) is False
    finally:
        server.shutdown()
        thread.join(5)
