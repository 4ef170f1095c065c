"""GET {prefix}/owner/<key> through Flask (docs/protocol.md section 8.6):
answers, auth, filters, bad input, drained servers; and the library calls
``owner()`` / ``owns()`` agreeing with it."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient

from flask_clustershazbot import Shazbot

from ..support.cluster import CONTROL_SECRET, GOSSIP_SECRET

GOSSIP = {"Authorization": f"Bearer {GOSSIP_SECRET}"}
CONTROL = {"Authorization": f"Bearer {CONTROL_SECRET}"}
SELF = "http://127.0.0.1:5999/"
PEERS = {
    "http://a.example/": {"role": "worker", "zone": "a"},
    "http://b.example/": {"role": "worker", "zone": "b"},
    "http://c.example/": {"role": "web", "zone": "a"},
}
KEYS = [f"job-{n}" for n in range(40)] + ["ключ/東京 🙂", "a/b/c", "user:42?x"]


def spec_owner(key: str, urls: list[str]) -> str | None:
    """Section 8.6 in a few lines, independent of the package."""
    def w(url: str) -> int:
        return int.from_bytes(hashlib.sha256(key.encode() + b"\x00" + url.encode()).digest()[:8], "big")

    # Largest weight; on an equal weight the smallest URL by UTF-8 bytes.
    return min(urls, key=lambda url: (-w(url), url.encode()), default=None)


def entry(url: str, meta: dict[str, str] | None = None, last: int | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"baseUrl": url, "monitor": False, "lastUpdate": last or int(time.time() * 1000)}
    if meta:
        item["meta"] = meta
    return item


def path(key: str, query: str = "") -> str:
    return f"/clustershazbot/owner/{quote(key, safe='/')}" + (f"?{query}" if query else "")


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    app = make_app()
    gossip = {"message": "gossip", "online": [entry(url, meta) for url, meta in PEERS.items()]}
    assert app.test_client().post("/clustershazbot/gossip", json=gossip, headers=GOSSIP).status_code == 200
    return app


def owner_of(client: FlaskClient, key: str, query: str = "") -> Any:
    response = client.get(path(key, query), headers=GOSSIP)
    assert response.status_code == 200, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["key"] == key
    return body["owner"]


def test_the_owner_is_the_rendezvous_winner_and_the_library_agrees(app: Flask) -> None:
    client = app.test_client()
    shazbot: Shazbot = app.extensions["shazbot"]
    everyone = [SELF, *PEERS]
    owners = set()
    for key in KEYS:
        expected = spec_owner(key, everyone)
        assert owner_of(client, key) == expected
        assert shazbot.owner(key) == expected
        assert shazbot.owns(key) == (expected == SELF)
        owners.add(expected)
    assert owners == set(everyone)  # 43 keys over 4 servers: each owns some


def test_both_secrets_are_accepted_and_nothing_else(app: Flask) -> None:
    client = app.test_client()
    assert client.get(path("k"), headers=CONTROL).status_code == 200
    assert client.get(path("k"), headers={"Authorization": GOSSIP_SECRET}).status_code == 200
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        for target in (path("k"), path("k", "Role=x"), "/clustershazbot/owner/a%00b", "/clustershazbot/owner/"):
            response = client.get(target, headers=headers)
            assert response.status_code == 401, target
            assert response.get_json() == {"error": "Missing or wrong secret."}


def test_filters_choose_among_matching_servers(app: Flask) -> None:
    client = app.test_client()
    workers = [url for url, meta in PEERS.items() if meta["role"] == "worker"]
    for key in KEYS:
        assert owner_of(client, key, "role=worker") == spec_owner(key, workers)
        assert owner_of(client, key, "role=worker&zone=b") == "http://b.example/"
        assert owner_of(client, key, "role=db") is None
        assert app.extensions["shazbot"].owner(key, role="worker") == spec_owner(key, workers)


@pytest.mark.parametrize(
    ("target", "mentions"),
    [
        ("k?Role=worker", "not a metadata key"),
        ("k?role%20x=worker", "not a metadata key"),
        ("k?" + "r" * 65 + "=x", "not a metadata key"),
        ("k?role=worker&role=web", "2 times"),
        ("", "empty"),
        ("?role=worker", "empty"),
        ("a%00b", "printable"),
        ("line%0Abreak", "printable"),
        ("%E2%80%AEevil", "printable"),
        ("%FF%FE", "UTF-8"),
        ("k" * 1025, "1024"),
        (quote("é" * 513), "1024"),
    ],
)
def test_bad_input_is_a_clear_400(app: Flask, target: str, mentions: str) -> None:
    response = app.test_client().get(f"/clustershazbot/owner/{target}", headers=GOSSIP)
    assert response.status_code == 400
    assert response.is_json and mentions in response.get_json()["error"]
    assert "evil" not in response.get_data(as_text=True)  # a bad key is never echoed


def test_the_bare_owner_path_is_a_400_too(app: Flask) -> None:
    response = app.test_client().get("/clustershazbot/owner", headers=GOSSIP)
    assert response.status_code == 400 and "empty" in response.get_json()["error"]


def test_the_longest_key_is_accepted(app: Flask) -> None:
    client = app.test_client()
    for key in ("k" * 1024, "é" * 512, "東" * 341):
        assert owner_of(client, key) == spec_owner(key, [SELF, *PEERS])


def test_only_get_is_allowed(app: Flask) -> None:
    response = app.test_client().post(path("k"), headers=GOSSIP)
    assert response.status_code == 405 and response.get_json()["error"]
    assert response.headers["Allow"].split(", ").count("GET") == 1


def test_a_drained_server_owns_nothing(app: Flask) -> None:
    client = app.test_client()
    shazbot: Shazbot = app.extensions["shazbot"]
    mine = [key for key in KEYS if spec_owner(key, [SELF, *PEERS]) == SELF]
    assert mine
    drained = client.post("/clustershazbot/control", json={"message": "control", "online": False}, headers=CONTROL)
    assert drained.status_code == 200
    for key in KEYS:
        expected = spec_owner(key, list(PEERS))
        assert owner_of(client, key) == expected != SELF
        assert not shazbot.owns(key)
    # A peer drained (an offline entry, newer) owns nothing either; the keys
    # of the others stay where they were.
    later = int(time.time() * 1000) + 1000
    gone = entry("http://a.example/", PEERS["http://a.example/"], later)
    gossip = {"message": "gossip", "online": [], "offline": [gone]}
    assert client.post("/clustershazbot/gossip", json=gossip, headers=GOSSIP).status_code == 200
    for key in KEYS:
        before = spec_owner(key, list(PEERS))
        after = owner_of(client, key)
        assert after == spec_owner(key, ["http://b.example/", "http://c.example/"])
        assert after == before or before == "http://a.example/"


def test_with_every_server_offline_the_owner_is_null(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    client = app.test_client()
    assert owner_of(client, "k") == SELF
    client.post("/clustershazbot/control", json={"message": "control", "online": False}, headers=CONTROL)
    assert owner_of(client, "k") is None
    assert app.extensions["shazbot"].owner("k") is None
