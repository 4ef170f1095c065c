"""Hostile peers and stores against real servers on 127.0.0.1: a peer or a
master-list store that answers one byte at a time, or sends part of its
answer and stalls, must not stall a server's heartbeat, keep its ticks from
starting, or make its goodbye unbounded (docs/reliability.md, "Hostile
conditions")."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ..support.cluster import Server, base_env, free_port
from ..support.drip import DripServer
from ..support.gunicorn_server import GunicornServer
from ..support.waiting import wait_until

StartServer = Callable[..., Server]

#: A fast loop whose calls would each end in 1 s if deadlines held; a failure
#: timeout far beyond the test, so only a goodbye takes anyone offline.
HOSTILE = {
    "SHAZBOT_GOSSIP_INTERVAL": "0.5",
    "SHAZBOT_REQUEST_TIMEOUT": "1",
    "SHAZBOT_FAILURE_TIMEOUT": "120",
    "SHAZBOT_SHUTDOWN_TIMEOUT": "2",
    "SHAZBOT_UPDATE_MASTER_LIST_ON_SHUTDOWN": "false",
}


def write_list(path: Path, entries: list[tuple[str, bool]]) -> None:
    now = int(time.time() * 1000)
    online = [{"baseUrl": url, "monitor": monitor, "lastUpdate": now} for url, monitor in entries]
    path.write_text(json.dumps({"online": online, "offline": []}))


def version_of(observer: Server, url: str) -> int | None:
    """The lastUpdate ``observer`` holds for ``url`` (online or offline)."""
    listing = observer.raw_view()
    for entry in [*listing.get("online", []), *listing.get("offline", [])]:
        if entry["baseUrl"] == url:
            return int(entry["lastUpdate"])
    return None


def own_versions(server: Server, seconds: float) -> list[int]:
    """The server's own lastUpdate, as its /list shows it, sampled for ``seconds``."""
    seen: list[int] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        version = version_of(server, server.base_url)
        if version is not None:
            seen.append(version)
        time.sleep(0.25)
    return seen


def report(scenario: str, **figures: object) -> None:
    """Printed for docs/reliability.md (run with -s to see them)."""
    print(f"\nHOSTILE {scenario}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


def keeps_heartbeating(server: Server, seconds: float = 5.0) -> float:
    """The own version moved, and never stood still for more than 3 s (6
    intervals); returns the longest stand-still seen, in seconds."""
    versions = own_versions(server, seconds)
    changes = [i for i in range(1, len(versions)) if versions[i] > versions[i - 1]]
    assert len(changes) >= 3, f"heartbeat stalled: own lastUpdate samples {versions}"
    gaps = [b - a for a, b in zip([0, *changes], [*changes, len(versions)], strict=True)]
    assert max(gaps) * 0.25 <= 3.0, f"heartbeat stalled for {max(gaps) * 0.25:.1f}s: {versions}"
    return max(gaps) * 0.25


def test_dripping_peer_neither_freezes_the_loop_nor_delays_the_goodbye(
    servers: StartServer, tmp_path: Path
) -> None:
    with DripServer(delay=0.5) as drip:
        listing = tmp_path / "list.json"
        env = {**base_env(f"file://{listing}"), **HOSTILE}
        a_port, b_port = free_port(), free_port()
        a_url, b_url = f"http://127.0.0.1:{a_port}/", f"http://127.0.0.1:{b_port}/"
        # The dripping peer is a monitor: the preferred partner, and the first
        # to be told goodbye.
        write_list(listing, [(drip.url, True), (a_url, False), (b_url, False)])
        b = servers("b", env, port=b_port)
        a = servers("a", {**env, "SHAZBOT_MONITOR_PREFERENCE": "1"}, port=a_port)
        wait_until(lambda: drip.hits >= 2, timeout=20, what="a to talk to the dripping peer")
        stall = keeps_heartbeating(a)
        wait_until(lambda: b.view().get(a.base_url) is True, timeout=20, what="b to see a online")

        started = time.monotonic()
        a.stop()
        took = time.monotonic() - started
        # SHAZBOT_SHUTDOWN_TIMEOUT is 2 s; the rest is process exit on a loaded machine.
        assert took < 2 + 4, f"shutdown took {took:.1f}s"
        # A healthy peer still heard the goodbye (its failure timeout is 120 s).
        wait_until(lambda: b.view().get(a.base_url) is False, timeout=5, what="b to hear a's goodbye")
        report("dripping peer", longest_heartbeat_gap_s=stall, sigterm_to_exit_s=round(took, 2))


@pytest.mark.parametrize("mode", ["body", "headers"])
def test_dripping_master_list_store_does_not_keep_ticks_from_starting(
    servers: StartServer, tmp_path: Path, mode: str
) -> None:
    with DripServer(delay=0.5, mode=mode) as store:
        listing = tmp_path / "list.json"
        a_port = free_port()
        a_url = f"http://127.0.0.1:{a_port}/"
        write_list(listing, [(a_url, False)])
        b = servers("b", {**base_env(f"file://{listing}"), **HOSTILE})
        a = servers("a", {**base_env(f"{store.url}list.json"), **HOSTILE}, port=a_port)
        stall = keeps_heartbeating(a)
        # a heard of b only through b's gossip, and gossips back: b sees a's
        # heartbeats, and a lists b.
        wait_until(lambda: a.view().get(b.base_url) is True, timeout=20, what="a to learn b from its gossip")
        first = version_of(b, a.base_url) or 0
        wait_until(lambda: (version_of(b, a.base_url) or 0) > first, timeout=20,
                   what="b to see a's heartbeat move")
        assert store.hits >= 1  # the store was asked, and is still being retried beside the ticks
        report(f"dripping store ({mode})", longest_heartbeat_gap_s=stall, store_reads=store.hits)


def test_s3_store_that_stalls_mid_body_does_not_silence_the_server(servers: StartServer) -> None:
    pytest.importorskip("boto3")
    body = json.dumps({"online": [], "offline": []}).encode().ljust(400)
    with DripServer(mode="stall", body=body) as fake_s3:
        env = {
            **base_env("s3://bucket/list.json"), **HOSTILE,
            "AWS_ENDPOINT_URL": fake_s3.url.rstrip("/"),
            "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
        }
        a = servers("a", env)
        wait_until(lambda: fake_s3.hits >= 1, timeout=20, what="a to read the master list")
        stall = keeps_heartbeating(a)
        # Bootstrap keeps retrying beside the ticks.
        wait_until(lambda: fake_s3.hits >= 2, timeout=20, what="a to retry the master list")
        report("S3 store stalls mid-body", longest_heartbeat_gap_s=stall, s3_requests=fake_s3.hits)


def test_gunicorn_stops_promptly_while_its_leader_talks_to_a_dripping_peer(tmp_path: Path) -> None:
    with DripServer(delay=0.5) as drip:
        listing = tmp_path / "list.json"
        write_list(listing, [(drip.url, True)])
        env = {**base_env(f"file://{listing}"), **HOSTILE, "SHAZBOT_MONITOR_PREFERENCE": "1"}
        server = GunicornServer(env, tmp_path, workers=2)
        try:
            server.start()
            wait_until(lambda: drip.hits >= 1, timeout=20, what="the leader to talk to the dripping peer")
            started = time.monotonic()
            server.stop(timeout=30)
            took = time.monotonic() - started
        finally:
            server.kill_all()
        # The shutdown timeout (2 s) plus gunicorn stopping its workers.
        assert took < 2 + 6, f"gunicorn took {took:.1f}s to stop"
        report("gunicorn SIGTERM while the leader talks to a dripping peer", sigterm_to_exit_s=round(took, 2))


def push_entries(server_url: str, count: int, chunk: int = 2500) -> None:
    """Fill a server's view with ``count`` offline entries through its gossip endpoint."""
    import requests

    from ..support.cluster import GOSSIP_SECRET

    now = int(time.time() * 1000)
    for start in range(0, count, chunk):
        offline = [{"baseUrl": f"http://10.9.{i // 250}.{i % 250}:8080/", "monitor": False, "lastUpdate": now}
                   for i in range(start, min(start + chunk, count))]
        requests.post(f"{server_url}clustershazbot/gossip", json={"message": "gossip", "online": [],
                      "offline": offline}, headers={"Authorization": GOSSIP_SECRET}, timeout=30).raise_for_status()


def test_a_server_with_a_large_view_says_goodbye_in_time_and_exits_quietly(
    servers: StartServer, tmp_path: Path
) -> None:
    listing = tmp_path / "list.json"
    env = {**base_env(f"file://{listing}"), **HOSTILE}
    b_port = free_port()
    b_url = f"http://127.0.0.1:{b_port}/"
    write_list(listing, [(b_url, False)])
    b = servers("b", env, port=b_port)
    server = GunicornServer(env, tmp_path, workers=2)
    try:
        server.start()
        wait_until(lambda: b.view().get(server.base_url) is True, timeout=20, what="b to see the gunicorn server")
        push_entries(server.base_url, 19_000)
        # Both views large: the peer's merge and answer are slow too.
        wait_until(lambda: len(b.view()) > 15_000, timeout=60, what="b to hold the large view")
        started = time.monotonic()
        server.stop(timeout=30)
        took = time.monotonic() - started
    finally:
        server.kill_all()
    log = server.log_path.read_text(errors="replace")
    assert "Traceback" not in log and "cannot schedule new futures" not in log, log[-3000:]
    # b's failure timeout is 120 s: only the goodbye explains this.
    wait_until(lambda: b.view().get(server.base_url) is False, timeout=5, what="b to hear the goodbye")
    report("gunicorn SIGTERM with 19,000 entries in both views", sigterm_to_exit_s=round(took, 2))
