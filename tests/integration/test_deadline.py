"""The HTTP client under hostile answers: total deadlines that survive odd
timeouts, and nothing kept from, or leaked to, a peer (real sockets on
127.0.0.1)."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from flask_clustershazbot import Shazbot
from flask_clustershazbot.deadline import deadline, deadline_session
from flask_clustershazbot.transport import PeerClient
from flask_clustershazbot.wire import load_server_list, parse_json

from ..support.cluster import GOSSIP_SECRET
from ..support.drip import DripServer
from ..support.fake_peer import FakePeer
from ..support.raw_http import RawHttpServer

ANSWER = json.dumps({"message": "gossip", "online": [
    {"baseUrl": "http://127.0.0.1:1/", "monitor": False, "lastUpdate": int(time.time() * 1000)}]}).encode()


def client() -> PeerClient:
    return PeerClient(secret=GOSSIP_SECRET, sender="http://127.0.0.1:2/", url_prefix="/clustershazbot",
                      timeout=2, max_body=65536)


def test_cookies_from_a_peer_are_neither_kept_nor_sent_on() -> None:
    peer = FakePeer(200, ANSWER, headers={"Set-Cookie": "tracker=1; Path=/; Domain=127.0.0.1"})
    try:
        talker = client()
        for _ in range(3):
            assert talker.exchange(peer.base_url, b'{"message":"gossip","online":[]}')
        assert len(talker.session.cookies) == 0
    finally:
        peer.stop()


def test_credentials_in_netrc_never_replace_the_gossip_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("default login someone password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    peer = FakePeer(200, ANSWER)
    try:
        client().exchange(peer.base_url, b'{"message":"gossip","online":[]}')
        assert peer.authorizations == [f"Bearer {GOSSIP_SECRET}"]
    finally:
        peer.stop()


def test_a_huge_deadline_does_not_disable_later_ones() -> None:
    with deadline(1e10):  # beyond threading.TIMEOUT_MAX
        time.sleep(0.1)
    session = deadline_session()
    with DripServer(delay=0.3) as drip:
        started = time.monotonic()
        with deadline(1.0) as call, contextlib.suppress(Exception):
            # urllib3 2 raises on the cut body; 1.x returns it short
            session.get(drip.url, timeout=(1, 1)).content  # noqa: B018
        assert call.expired
        assert time.monotonic() - started < 3


def test_the_master_list_written_fits_what_a_peer_with_our_settings_reads(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    limit = 65536
    app = make_app(SHAZBOT_MAX_CONTENT_LENGTH=limit)
    shazbot: Shazbot = app.extensions["shazbot"]
    web = app.test_client()
    now = int(time.time() * 1000)
    for chunk in range(4):  # 2,000 servers: about twice what fits in 64 KiB
        online = [{"baseUrl": f"http://server-{chunk}-{i}.cluster.example/", "monitor": False, "lastUpdate": now}
                  for i in range(500)]
        response = web.post("/clustershazbot/gossip", json={"message": "gossip", "online": online},
                            headers={"Authorization": f"Bearer {GOSSIP_SECRET}"})
        assert response.status_code == 200
    assert len(shazbot.servers()) == 2001
    shazbot.node.announce()
    stored = (tmp_path / "masterlist.json").read_bytes()
    assert 0 < len(stored) <= limit
    entries = load_server_list(parse_json(stored))
    assert shazbot.config.base_url in {e.base_url for e in entries}
    shazbot.node.load_master_list()  # and it reads back


def test_a_signed_store_url_query_reaches_no_log(caplog: pytest.LogCaptureFixture) -> None:
    from flask_clustershazbot.masterlist.http import HttpMasterList

    from ..support.masterlist_server import MasterListServer

    store = MasterListServer().start()
    try:
        url = f"{store.url}?X-Amz-Signature=topsecret-signature"
        with caplog.at_level(logging.DEBUG):  # every logger, urllib3's included
            HttpMasterList(url, url, "Bearer store-secret", timeout=2, max_body=65536).read()
    finally:
        store.stop()
    assert "POST" in caplog.text or "GET" in caplog.text  # urllib3 did log the request
    assert "topsecret" not in caplog.text


class ShortAnswer(RawHttpServer):
    """Announces 400 bytes, sends 20, closes: a cut connection."""

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            if self.read_request(conn):
                conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nETag: "short"\r\n'
                             b'Content-Length: 400\r\n\r\n{"online": [], "of')


def test_an_answer_cut_short_is_an_error_not_a_short_body() -> None:
    from flask_clustershazbot.errors import MasterListError
    from flask_clustershazbot.masterlist.http import HttpMasterList
    from flask_clustershazbot.transport import ExchangeError

    with ShortAnswer() as peer:
        with pytest.raises(ExchangeError):
            client().exchange(peer.url, b'{"message":"gossip","online":[]}')
        store = HttpMasterList(f"{peer.url}list.json", f"{peer.url}list.json", "Bearer x", timeout=2,
                               max_body=65536)
        # Never mistaken for a corrupt list (which would be replaced).
        with pytest.raises(MasterListError, match="failed"):
            store.read()
