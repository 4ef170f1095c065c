"""Server metadata and key ownership across real gunicorn servers (issue 13):
three servers of two workers each, configured through SHAZBOT_METADATA, seen
through ``/list`` and ``GET {prefix}/owner/<key>`` (docs/protocol.md sections
8.5 and 8.6)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from ..support.cluster import CONTROL_SECRET, GOSSIP_SECRET
from ..support.gunicorn_server import GunicornServer
from ..support.waiting import wait_until

INTERVAL = 0.2
WORKERS = 2
#: Zones a, b, a: a filter on zone "a" picks two servers of three.
METADATA = [{"zone": "a", "role": "web"}, {"zone": "b", "role": "web"}, {"zone": "a", "role": "web"}]
#: Keys to ask about: plain, with slashes, and non-ASCII (sent percent-encoded).
KEYS = [f"job-{i}" for i in range(60)] + [f"user/{i}/cart" for i in range(10)] + [f"clé-{i}-✓" for i in range(10)]

Cluster = Callable[[], list[GunicornServer]]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """Three gunicorn servers (not started yet) that find each other at once:
    the master list they share is seeded with all three."""
    started: list[GunicornServer] = []

    def make() -> list[GunicornServer]:
        master_list = tmp_path / "masterlist.json"
        servers = []
        for index, meta in enumerate(METADATA):
            home = tmp_path / f"server{index}"  # each its own state file
            home.mkdir()
            env = {
                "SHAZBOT_SECRET": GOSSIP_SECRET,
                "SHAZBOT_CONTROL_SECRET": CONTROL_SECRET,
                "SHAZBOT_MASTER_LIST": master_list.as_uri(),
                "SHAZBOT_MASTER_LIST_UPDATE": master_list.as_uri(),
                "SHAZBOT_GOSSIP_INTERVAL": str(INTERVAL),
                "SHAZBOT_MASTER_ANNOUNCE_MINIMUM": "0.5",
                # A drain is said, not detected: the timeout only has to
                # survive a loaded machine.
                "SHAZBOT_FAILURE_TIMEOUT": "20",
                "SHAZBOT_METADATA": json.dumps(meta),
            }
            servers.append(GunicornServer(env, home, WORKERS))
        now = int(time.time() * 1000)
        seeded = [{"baseUrl": s.base_url, "monitor": False, "lastUpdate": now} for s in servers]
        master_list.write_text(json.dumps({"online": seeded, "offline": []}))
        started.extend(servers)
        for server in servers:
            server.start()
        return servers

    yield make
    for server in started:
        server.kill_all()


def views(server: GunicornServer) -> dict[str, tuple[bool, dict[str, str]]]:
    """What ``server``'s ``/list`` says: base URL -> (online, metadata)."""
    answer = server.list()
    assert answer.status_code == 200, answer.text
    data: dict[str, list[dict[str, Any]]] = answer.json()
    return {
        item["baseUrl"]: (online, item.get("meta", {}))
        for online in (True, False)
        for item in data["online" if online else "offline"]
    }


def everyone_sees(servers: list[GunicornServer], expected: dict[str, tuple[bool, dict[str, str]]]) -> bool:
    """Every server (whichever worker answers) holds ``expected`` about these servers."""
    return all(
        {url: seen.get(url) for url in expected} == expected for server in servers for seen in [views(server)]
    )


def owner(server: GunicornServer, key: str, **filters: str) -> str | None:
    answer = requests.get(f"{server.base_url}clustershazbot/owner/{quote(key, safe='/')}", params=filters,
                          headers={"Authorization": GOSSIP_SECRET}, timeout=5)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body["key"] == key
    found: str | None = body["owner"]
    return found


def owners(server: GunicornServer, **filters: str) -> dict[str, str | None]:
    return {key: owner(server, key, **filters) for key in KEYS}


def rendezvous(key: str, candidates: list[str]) -> str:
    """The owner as docs/protocol.md section 8.6 specifies it, computed here
    independently: the largest first 8 bytes of SHA-256(key, 0x00, URL)."""
    def weight(url: str) -> int:
        return int.from_bytes(hashlib.sha256(key.encode() + b"\x00" + url.encode()).digest()[:8], "big")

    return max(sorted(candidates), key=weight)


def test_metadata_is_seen_everywhere_and_a_restart_with_new_metadata_spreads(cluster: Cluster) -> None:
    servers = cluster()
    expected = {s.base_url: (True, meta) for s, meta in zip(servers, METADATA, strict=True)}
    wait_until(lambda: everyone_sees(servers, expected), timeout=20, what="every server to see every server's meta")
    # Both workers of each server answer from the one shared view.
    for _ in range(4):
        assert everyone_sees(servers, expected)

    restarted = servers[1]
    before = max(item["lastUpdate"] for item in restarted.list().json()["online"]
                 if item["baseUrl"] == restarted.base_url)
    assert restarted.stop() == 0
    wait_until(lambda: everyone_sees(servers[::2], {**expected, restarted.base_url: (False, METADATA[1])}),
               timeout=20, what="the others to hear the goodbye")
    new_meta = {"zone": "b", "role": "worker", "version": "2.0-é"}
    restarted.env["SHAZBOT_METADATA"] = json.dumps(new_meta)
    restarted.start()
    expected[restarted.base_url] = (True, new_meta)
    wait_until(lambda: everyone_sees(servers, expected), timeout=20, what="the new metadata to spread")
    for server in servers:
        entry = next(item for item in server.list().json()["online"] if item["baseUrl"] == restarted.base_url)
        assert entry["lastUpdate"] > before  # a new version, not an edit of the old one


def test_owners_agree_everywhere_and_a_drain_moves_only_the_drained_servers_keys(cluster: Cluster) -> None:
    servers = cluster()
    urls = [s.base_url for s in servers]
    everyone_online = {url: (True, meta) for url, meta in zip(urls, METADATA, strict=True)}
    wait_until(lambda: everyone_sees(servers, everyone_online), timeout=20, what="the cluster to form")

    before = owners(servers[0])
    assert before == {key: rendezvous(key, urls) for key in KEYS}  # the specified hash, all three candidates
    assert set(before.values()) == set(urls)  # 80 keys land on every server
    for server in servers[1:]:
        assert owners(server) == before

    # Filters pick among the servers whose metadata matches.
    zone_a = [urls[0], urls[2]]
    for server in servers:
        assert owners(server, zone="a") == {key: rendezvous(key, zone_a) for key in KEYS}
        assert {owner(server, key, zone="b", role="web") for key in KEYS[:20]} == {urls[1]}
        assert owner(server, KEYS[0], zone="c") is None

    drained = servers[2]
    assert drained.control(False).json() == {"success": True}
    wait_until(lambda: everyone_sees(servers, {**everyone_online, drained.base_url: (False, METADATA[2])}),
               timeout=20, what="every server to see the drain")
    for server in servers:
        after = owners(server)
        moved = {key for key in KEYS if after[key] != before[key]}
        assert moved == {key for key in KEYS if before[key] == drained.base_url}
        assert all(after[key] in urls[:2] for key in moved)
        assert after == {key: rendezvous(key, urls[:2]) for key in KEYS}
        assert {owner(server, key, zone="a") for key in KEYS[:20]} == {urls[0]}  # a drained server owns nothing

    # Through gunicorn too, a bad request is a JSON 4xx (the raw path is checked for UTF-8).
    base = f"{drained.base_url}clustershazbot/owner/"
    assert requests.get(f"{base}job-1", timeout=5).status_code == 401
    by_control = requests.get(f"{base}job-1", headers={"Authorization": CONTROL_SECRET}, timeout=5)
    assert by_control.status_code == 200
    assert by_control.json() == {"key": "job-1", "owner": rendezvous("job-1", urls[:2])}
    bad: list[tuple[str, dict[str, Any]]] = [
        ("", {}), ("job-1", {"Zone": "a"}), ("%ff", {}), ("a%0Ab", {}), ("job-1", {"zone": ["a", "b"]})
    ]
    for path, params in bad:
        answer = requests.get(base + path, params=params, headers={"Authorization": GOSSIP_SECRET}, timeout=5)
        assert answer.status_code == 400, (path, params, answer.status_code, answer.text)
        assert set(answer.json()) >= {"error"}

