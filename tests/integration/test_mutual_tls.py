"""Mutual TLS with real gunicorn servers that require client certificates
(``--cert-reqs 2 --ca-certs``), a throwaway CA made with ``openssl``, and an
HTTPS master-list store that takes writes only with a client certificate.

Every server's environment has REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE pointing
at another CA's bundle, so nothing verifies unless SHAZBOT_TLS_CA wins.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask

from flask_clustershazbot.errors import MasterListError
from flask_clustershazbot.masterlist.http import HttpMasterList
from flask_clustershazbot.masterlist.s3 import S3MasterList
from flask_clustershazbot.protocol.model import ServerEntry
from flask_clustershazbot.tls import tls_args

from ..support.cluster import CONTROL_SECRET, GOSSIP_SECRET, free_port
from ..support.gunicorn_server import GunicornServer
from ..support.tls import Pki, TlsMasterListServer, make_pki
from ..support.waiting import wait_until

INTERVAL = 0.2

StartServer = Callable[..., GunicornServer]


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
def store(pki: Pki) -> Iterator[TlsMasterListServer]:
    server = TlsMasterListServer(pki)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def start_server(tmp_path: Path, pki: Pki, store: TlsMasterListServer) -> Iterator[StartServer]:
    started: list[GunicornServer] = []

    def start(name: str, *, client_cert: bool = True) -> GunicornServer:
        directory = tmp_path / name
        directory.mkdir()
        env = {
            "SHAZBOT_SECRET": GOSSIP_SECRET,
            "SHAZBOT_CONTROL_SECRET": CONTROL_SECRET,
            "SHAZBOT_MASTER_LIST": store.url,
            "SHAZBOT_MASTER_LIST_UPDATE": store.url,
            "SHAZBOT_MASTER_LIST_UPDATE_AUTH": store.auth,
            "SHAZBOT_GOSSIP_INTERVAL": str(INTERVAL),
            "SHAZBOT_FAILURE_TIMEOUT": "5",
            "SHAZBOT_REQUEST_TIMEOUT": "2",
            "SHAZBOT_MASTER_ANNOUNCE_MINIMUM": "0.2",
            "SHAZBOT_MASTER_ANNOUNCE_INTERVAL": "1",
            "REQUESTS_CA_BUNDLE": str(pki.other_ca),
            "CURL_CA_BUNDLE": str(pki.other_ca),
            "LOG_LEVEL": "INFO",
            **pki.env(client=client_cert),
        }
        tls_flags = ["--certfile", str(pki.server_cert), "--keyfile", str(pki.server_key),
                     "--ca-certs", str(pki.ca), "--cert-reqs", "2"]
        server = GunicornServer(env, directory, 1, tls_flags, scheme="https", request_args=pki.request_args())
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.kill_all()


def listed(server: GunicornServer) -> dict[str, bool]:
    """base URL -> online, as ``server`` sees the cluster."""
    data = server.list().json()
    return {e["baseUrl"]: online for key, online in (("online", True), ("offline", False)) for e in data[key]}


def metric(server: GunicornServer, pattern: str) -> float:
    """The sum of ``server``'s metric lines matching ``pattern`` (0 if none)."""
    text = requests.get(f"{server.base_url}clustershazbot/metrics", headers={"Authorization": GOSSIP_SECRET},
                        timeout=5, **server.request_args).text
    return sum(float(value) for value in re.findall(rf"^{pattern} (\S+)$", text, re.MULTILINE))


def tls_failures(server: GunicornServer) -> float:
    """How many of ``server``'s exchanges failed in the TLS handshake."""
    return metric(server, r'shazbot_exchanges_failed_total\{reason="tls"\}')


def exchanges_ok(server: GunicornServer) -> float:
    """How many of ``server``'s exchanges succeeded."""
    return metric(server, r"shazbot_exchanges_sent_total") - metric(server, r"shazbot_exchanges_failed_total\{.*?\}")


def tls_warnings(server: GunicornServer, peer: GunicornServer) -> int:
    """Lines of ``server``'s log saying why it cannot reach ``peer``."""
    return sum(
        1 for line in server.log_path.read_text().splitlines()
        if f"cannot reach {peer.base_url} over TLS" in line and "requires a client certificate" in line
    )


def test_servers_with_certificates_converge_and_one_without_cannot_join(
    start_server: StartServer, store: TlsMasterListServer, pki: Pki
) -> None:
    members = [start_server(name) for name in ("a", "b", "c")]
    urls = {m.base_url for m in members}
    wait_until(lambda: all(listed(m) == dict.fromkeys(urls, True) for m in members), timeout=40,
               what="three mTLS servers to converge")
    wait_until(lambda: set(store.statuses()) == urls, timeout=20, what="the HTTPS master list to hold all three")
    # Through gossip, not only the master list: their exchanges succeed.
    wait_until(lambda: all(exchanges_ok(m) >= 3 for m in members), timeout=20, what="exchanges between members")
    assert [tls_failures(m) for m in members] == [0, 0, 0]

    outsider = start_server("d", client_cert=False)
    # It read the master list (reads need no client certificate) and so
    # tries every member; each refuses it for lack of a client certificate.
    wait_until(lambda: all(tls_warnings(outsider, m) for m in members), timeout=30,
               what="the outsider to say why it cannot reach each member")

    def outsider_kept_trying() -> bool:
        assert all(outsider.base_url not in listed(m) for m in members), "a member lists the outsider"
        # At least three more tries per member than the warnings it logged.
        return tls_failures(outsider) >= 4 * len(members)

    wait_until(outsider_kept_trying, timeout=60, interval=INTERVAL, what="the outsider to keep trying")
    assert [tls_warnings(outsider, m) for m in members] == [1, 1, 1], outsider.log_path.read_text()[-3000:]
    assert outsider.base_url not in store.statuses()
    wait_until(lambda: store.forbidden > 0, timeout=20, what="the outsider's write to be refused")
    for member in members:
        assert "over TLS" not in member.log_path.read_text()
    assert "BEGIN" not in outsider.log_path.read_text()  # no certificate or key contents


def test_cli_status_uses_the_tls_settings(
    start_server: StartServer, pki: Pki, make_app: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start_server("a")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.other_ca))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(pki.other_ca))
    tls = {"SHAZBOT_TLS_CA": str(pki.ca), "SHAZBOT_TLS_CERT": str(pki.client_cert),
           "SHAZBOT_TLS_KEY": str(pki.client_key)}

    app = make_app(SHAZBOT_BASE_URL=server.base_url, **tls)
    result = app.test_cli_runner().invoke(args=["shazbot", "status"])
    assert result.exit_code == 0, result.output
    assert f"{server.base_url} (this)" in result.output and result.output.endswith("1 online, 0 offline\n")

    no_cert = make_app(SHAZBOT_BASE_URL=server.base_url, SHAZBOT_TLS_CA=str(pki.ca))
    refused = no_cert.test_cli_runner().invoke(args=["shazbot", "status"])
    assert refused.exit_code != 0
    assert "requires a client certificate" in refused.output and "Traceback" not in refused.output

    wrong_ca = make_app(SHAZBOT_BASE_URL=server.base_url, **{**tls, "SHAZBOT_TLS_CA": str(pki.other_ca)})
    unverified = wrong_ca.test_cli_runner().invoke(args=["shazbot", "status"])
    assert unverified.exit_code != 0
    assert "did not verify" in unverified.output, unverified.output


@pytest.fixture
def moto_https(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's S3 over HTTPS with the test CA's server certificate."""
    pytest.importorskip("moto.server")
    import boto3

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port),
         "-c", str(pki.server_cert), "-k", str(pki.server_key)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    endpoint = f"https://127.0.0.1:{port}"
    for name, value in {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing-secret-key", "AWS_DEFAULT_REGION": "us-east-1",
                        "REQUESTS_CA_BUNDLE": str(pki.other_ca), "AWS_CA_BUNDLE": str(pki.other_ca)}.items():
        monkeypatch.setenv(name, value)
    try:
        wait_until(lambda: requests.get(endpoint, timeout=2, verify=str(pki.ca)).status_code < 500, timeout=30,
                   what="moto to serve")
        boto3.client("s3", verify=str(pki.ca)).create_bucket(Bucket="cluster")
        yield endpoint
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_s3_store_over_https_verifies_with_the_configured_ca(moto_https: str, pki: Pki) -> None:
    url = "s3://cluster/members.json"
    store = S3MasterList(url, url, timeout=5, max_body=1 << 20, tls=tls_args(str(pki.ca), None, None))
    entry = ServerEntry("https://s1.test/", monitor=False, last_update=int(time.time() * 1000), online=True)
    store.update(lambda stored: [*stored, entry])
    assert store.read() == [entry]

    # Without SHAZBOT_TLS_CA, AWS_CA_BUNDLE (another CA) is used, and the
    # error says why in one line.
    unverified = S3MasterList(url, url, timeout=5, max_body=1 << 20)
    with pytest.raises(MasterListError) as caught:
        unverified.read()
    assert str(caught.value).startswith(
        f"reading master list {url} failed: TLS: its certificate did not verify against our CA bundle"
    ), caught.value


def test_https_master_list_failure_says_why(store: TlsMasterListServer, pki: Pki) -> None:
    wrong = HttpMasterList(store.url, store.url, None, timeout=5, max_body=1 << 20,
                           tls=tls_args(str(pki.other_ca), str(pki.client_cert), str(pki.client_key)))
    with pytest.raises(MasterListError) as caught:
        wrong.read()
    assert "failed: TLS: its certificate did not verify" in str(caught.value)
    right = HttpMasterList(store.url, store.url, store.auth, timeout=5, max_body=1 << 20,
                           tls=tls_args(str(pki.ca), str(pki.client_cert), str(pki.client_key)))
    entry = ServerEntry("https://s1.test/", monitor=False, last_update=int(time.time() * 1000), online=True)
    right.update(lambda stored: [entry])
    assert store.statuses() == {"https://s1.test/": True}
