"""SHAZBOT_TLS_CA / _CERT / _KEY reach every outgoing call, whatever
REQUESTS_CA_BUNDLE says, and a TLS failure with a peer is logged once per
peer. No sockets: a requests transport adapter (requests' own seam) records
what each call would have used, and the node's transport is a fake."""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter

from flask_clustershazbot.deadline import deadline_session
from flask_clustershazbot.masterlist.http import HttpMasterList
from flask_clustershazbot.node import ClusterNode
from flask_clustershazbot.protocol.model import ServerEntry
from flask_clustershazbot.tls import TlsFailureMemory, tls_args
from flask_clustershazbot.transport import ExchangeError, PeerClient
from flask_clustershazbot.wire import dumps

from ..support.manual_clock import ManualClock
from ..support.memory_master_list import MemoryMasterList
from ..support.memory_network import memory_config

CA, CERT, KEY = "/etc/cluster/ca.pem", "/etc/cluster/client.pem", "/etc/cluster/client.key"


class RecordingAdapter(BaseAdapter):
    """Answers every request with ``body``; records the ``verify`` and
    ``cert`` that requests settled on for it."""

    def __init__(self, body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> None:
        super().__init__()
        self.body = body
        self.status = status
        self.headers = headers or {}
        self.seen: list[tuple[str, Any, Any]] = []

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Any = None) -> requests.Response:
        self.seen.append((str(request.method), verify, cert))
        response = requests.Response()
        response.status_code = self.status
        response.headers.update({"Content-Length": str(len(self.body)), **self.headers})
        response.raw = _Raw(self.body)
        response.request = request
        response.url = str(request.url)
        return response

    def close(self) -> None:
        pass


class _Raw:
    """Just enough of a urllib3 response for requests to stream from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, chunk_size: int, decode_content: bool = True) -> Any:
        yield self._body

    def read(self, amount: int | None = None, decode_content: bool = True) -> bytes:
        body, self._body = self._body, b""
        return body

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


@pytest.fixture(autouse=True)
def wrong_bundles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Many machines set these; they must not replace SHAZBOT_TLS_CA."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/wrong/requests-bundle.pem")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/wrong/curl-bundle.pem")


def session_with(adapter: RecordingAdapter) -> requests.Session:
    session = deadline_session()
    session.mount("https://", adapter)
    return session


def peer_client(adapter: RecordingAdapter, **tls: str) -> PeerClient:
    return PeerClient(secret="s", sender="https://me.test/", url_prefix="/clustershazbot", timeout=2.0,
                      max_body=1 << 20, session=session_with(adapter), tls=tls_args(**tls))


ANSWER = dumps({"online": [], "offline": []})


def test_gossip_and_probes_use_the_configured_ca_and_client_certificate() -> None:
    adapter = RecordingAdapter(ANSWER)
    client = peer_client(adapter, ca=CA, cert=CERT, key=KEY)
    client.exchange("https://peer.test/", b"{}")
    adapter.body = dumps({"reachable": True})
    client.probe("https://peer.test/", "https://other.test/", 2.0)
    assert adapter.seen == [("POST", CA, (CERT, KEY)), ("POST", CA, (CERT, KEY))]


def test_without_tls_settings_the_environment_bundle_still_applies() -> None:
    # Unchanged behaviour: REQUESTS_CA_BUNDLE is how a private CA worked before.
    adapter = RecordingAdapter(ANSWER)
    peer_client(adapter).exchange("https://peer.test/", b"{}")
    assert adapter.seen == [("POST", "/wrong/requests-bundle.pem", None)]


def test_http_master_list_reads_and_writes_with_the_tls_settings() -> None:
    adapter = RecordingAdapter(ANSWER, headers={"ETag": '"1"'})
    store = HttpMasterList("https://store.test/list.json", "https://store.test/list.json", None,
                           session=session_with(adapter), timeout=2.0, max_body=1 << 20,
                           tls=tls_args(CA, CERT, KEY))
    store.read()
    store.update(lambda stored: stored)
    assert {seen[0] for seen in adapter.seen} == {"GET", "PUT"}
    assert all(seen[1:] == (CA, (CERT, KEY)) for seen in adapter.seen), adapter.seen


class TlsFailingTransport:
    """A transport whose calls fail in the TLS handshake while ``failing``."""

    def __init__(self) -> None:
        self.failing = True

    def exchange(self, base_url: str, message: bytes, timeout: float | None = None) -> list[ServerEntry]:
        if self.failing:
            raise ExchangeError("tls", "it requires a client certificate and we present none")
        return []

    def probe(self, witness_url: str, suspect_url: str, timeout: float) -> bool | None:
        return None

    def close(self) -> None:
        pass


def tls_warnings(caplog: pytest.LogCaptureFixture, peer: str) -> int:
    return sum(1 for r in caplog.records if r.levelno == logging.WARNING and peer in r.getMessage()
               and "client certificate" in r.getMessage())


def test_a_tls_failure_is_logged_once_per_peer_until_a_success(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="flask_clustershazbot")
    transport = TlsFailingTransport()
    clock = ManualClock()
    node = ClusterNode(memory_config("https://me.test/"), transport=transport, master_list=MemoryMasterList(),
                       wall_ms=clock.wall_ms, monotonic=clock.monotonic, rng=random.Random(1))
    a, b = "https://a.test/", "https://b.test/"
    for _ in range(5):
        assert not node.exchange_with(a, b"{}")
        assert not node.exchange_with(b, b"{}")
    assert (tls_warnings(caplog, a), tls_warnings(caplog, b)) == (1, 1)
    assert node.counters["exchanges_failed_tls"] == 10
    transport.failing = False
    assert node.exchange_with(a, b"{}")
    transport.failing = True
    node.exchange_with(a, b"{}")
    node.exchange_with(b, b"{}")
    assert (tls_warnings(caplog, a), tls_warnings(caplog, b)) == (2, 1)
    node.close()


def test_failure_memory_is_bounded() -> None:
    memory = TlsFailureMemory(limit=2)
    assert [memory.first_failure(p) for p in ("a", "b", "a", "c", "a", "b")] == [True, True, False, True, False, True]


def test_a_new_reason_for_the_same_peer_is_logged_again() -> None:
    memory = TlsFailureMemory()
    assert memory.first_failure("a", "no client certificate")
    assert not memory.first_failure("a", "no client certificate")
    assert memory.first_failure("a", "did not verify")  # the cert fixed, the CA now wrong
    assert not memory.first_failure("a", "did not verify")
