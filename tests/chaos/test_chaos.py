"""Chaos: real servers on 127.0.0.1 behind fault-injecting proxies, broken on
purpose. Each scenario prints what it measured (pytest -s) for
docs/reliability.md."""

from __future__ import annotations

import json
import random
import signal
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import requests

from ..support.chaos import CHAOS, ProxiedServer, report
from ..support.cluster import GOSSIP_SECRET, base_env, free_port
from ..support.fake_peer import FakePeer
from ..support.masterlist_server import MasterListServer
from ..support.tools import require_tool
from ..support.waiting import wait_until

Start = Callable[..., ProxiedServer]


def sees(observers: list[ProxiedServer], target: ProxiedServer, online: bool) -> bool:
    return all(o.view().get(target.base_url) is online for o in observers)


def all_online(group: list[ProxiedServer]) -> bool:
    expected = {s.base_url: True for s in group}
    return all({u: v for u, v in s.view().items() if u in expected} == expected for s in group)


def cluster(proxied: Start, env: dict[str, str], count: int, store: MasterListServer) -> list[ProxiedServer]:
    """``count`` servers that find each other through the master list."""
    group = [proxied(f"s{i}", env, wait=False) for i in range(count)]
    now = int(time.time() * 1000)
    store.body = json.dumps({"online": [{"baseUrl": s.base_url, "monitor": False, "lastUpdate": now}
                                        for s in group]}).encode()
    for server in group:
        server.start()
    wait_until(lambda: all_online(group), timeout=40, what="the cluster to converge")
    return group


def rss_and_threads(server: ProxiedServer) -> tuple[int, int]:
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status if ":" in line)
    return int(fields["VmRSS"].split()[0]), int(fields["Threads"])


def test_partition_3_3_each_side_declares_the_other_offline_then_heals(
    proxied: Start, chaos_env: dict[str, str], master_store: MasterListServer
) -> None:
    group = cluster(proxied, chaos_env, 6, master_store)
    left, right = group[:3], group[3:]
    for side, other in ((left, right), (right, left)):
        for server in side:
            server.proxy.blocked_senders = {s.base_url for s in other}
    split = time.monotonic()
    wait_until(lambda: all(sees(left, s, False) for s in right) and all(sees(right, s, False) for s in left),
               timeout=30, what="each side to declare the other offline")
    detected = time.monotonic() - split
    time.sleep(2 * 2.0)  # keep the split for two more failure timeouts
    assert all(sees(left, s, True) for s in left) and all(sees(right, s, True) for s in right)
    for server in group:
        server.proxy.blocked_senders = set()
    healed = time.monotonic()
    wait_until(lambda: all_online(group), timeout=30, what="everyone online everywhere after the heal")
    recovered = time.monotonic() - healed
    report("partition 3+3", interval="0.2s", failure_timeout="2s", split_detected=f"{detected:.1f}s",
           healed_everywhere=f"{recovered:.1f}s")
    assert recovered < 10


def test_blackholing_peer_does_not_slow_gossip_or_pile_up_threads(
    proxied: Start, chaos_env: dict[str, str], master_store: MasterListServer
) -> None:
    # As in production (30 s interval, 5 s timeout), the request timeout is
    # shorter than the interval, so a peer that never answers cannot delay a tick.
    env = {**chaos_env, "SHAZBOT_GOSSIP_INTERVAL": "0.5", "SHAZBOT_REQUEST_TIMEOUT": "0.4",
           "SHAZBOT_FAILURE_TIMEOUT": "4"}
    a, b, c = cluster(proxied, env, 3, master_store)
    c.proxy.mode = "blackhole"  # accepts and never answers
    time.sleep(1)  # let the first timeouts and backoff happen
    window = 8.0
    to_b, to_c = b.proxy.count(a.base_url), c.proxy.count(a.base_url)
    rss0, threads0 = rss_and_threads(a)
    time.sleep(window)  # a rate needs a window of time
    rate_b = (b.proxy.count(a.base_url) - to_b) / window
    rate = rate_b + (c.proxy.count(a.base_url) - to_c) / window
    rss1, threads1 = rss_and_threads(a)
    report("blackholed peer", interval="0.5s", request_timeout="0.4s", a_ticks_per_s=f"{rate:.2f} (of 2)",
           a_to_b_per_s=f"{rate_b:.2f}", threads=f"{threads0}->{threads1}", rss_kib=f"{rss0}->{rss1}")
    assert rate >= 0.8 * 2  # one exchange per tick, ticks every 0.5 s: the loop keeps its rate
    assert rate_b >= 1.0  # backoff makes the silent peer a rare partner
    assert threads1 <= threads0 + 2
    assert rss1 - rss0 < 10_000
    # c still gossips out (only its inbound is cut), so it stays online: a
    # blackhole slows nobody down and is not mistaken for a crash.
    assert all(sees([a, b], s, True) for s in (a, b, c))  # asked through a and b: c answers no one


def test_hostile_and_broken_answers_leave_views_unharmed(
    proxied: Start, chaos_env: dict[str, str], master_store: MasterListServer
) -> None:
    group = cluster(proxied, {**chaos_env, "LOG_LEVEL": "DEBUG"}, 3, master_store)
    a = group[0]
    now = int(time.time() * 1000)
    victim = {s["baseUrl"]: s for s in a.raw_view()["online"]}[group[1].base_url]

    def hostile() -> bytes:
        return json.dumps({"message": "gossip", "online": [
            {"baseUrl": group[2].base_url, "monitor": True, "lastUpdate": int(time.time() * 1000) + 3_600_000},
            *({"baseUrl": f"http://fake{i}.example/", "monitor": False, "lastUpdate": now} for i in range(50)),
        ], "offline": [{**victim, "lastUpdate": int(time.time() * 1000) + 1000}]}).encode()  # a false claim

    truncated = json.dumps({"message": "gossip", "online": [victim] * 20}).encode()[:-40]
    fakes = [
        FakePeer(500, b'{"error": "boom"}'),
        FakePeer(200, b"<html><body>Welcome to nginx</body></html>", "text/html"),
        FakePeer(200, truncated),
        FakePeer(200, b"[" + b"1," * 5_000_000 + b"1]"),  # 10 MB: over the 8 MiB cap
        FakePeer(200, hostile),
    ]
    try:
        fake_entries = [{"baseUrl": f.base_url, "monitor": True, "lastUpdate": now} for f in fakes]
        requests.post(a.url("gossip"), json={"message": "gossip", "online": fake_entries},
                      headers={"Authorization": GOSSIP_SECRET}, timeout=5).raise_for_status()
        wait_until(lambda: all(f.hits >= 2 for f in fakes), timeout=30, what="every fake peer to be asked twice")
        wait_until(lambda: all_online(group), timeout=15, what="views to be right")
        def logs() -> str:  # any of the three may have asked a fake peer
            return "".join(s.log_path.read_text() for s in group)

        wait_until(lambda: all(r in logs() for r in ("http_500", "invalid_answer", "too_large", "in the future")),
                   timeout=15, what="every failure to be logged")
        wait_until(lambda: "refuted a claim" in group[1].log_path.read_text(), timeout=15, what="the refutation")
        # Injected servers never heartbeat, so they are declared offline within a failure timeout.
        wait_until(lambda: all(not v for u, v in a.view().items() if u.startswith("http://fake")), timeout=15,
                   what="the injected servers to be declared offline")
        assert a.process is not None and a.process.poll() is None
        report("hostile answers", fake_peers=len(fakes), asked=[f.hits for f in fakes], views="unharmed")
    finally:
        for fake in fakes:
            fake.stop()


def slowed(store: MasterListServer, method: str, seconds: float) -> MasterListServer:
    """``store`` answering ``method`` requests only after ``seconds``."""
    handler = store.server.RequestHandlerClass
    plain = getattr(handler, method)

    def delayed(request: Any) -> None:
        time.sleep(seconds)
        plain(request)

    setattr(handler, method, delayed)
    return store


def test_master_list_store_down_slow_and_raced(proxied: Start, tmp_path: Path) -> None:
    # Down at start and at every announce: the server serves at once, logs
    # each failed write, and keeps going.
    port = free_port()
    env = {**base_env(f"http://127.0.0.1:{port}/list.json"), **CHAOS, "SHAZBOT_MASTER_ANNOUNCE_MINIMUM": "0.2",
           "SHAZBOT_MASTER_ANNOUNCE_INTERVAL": "0.2"}
    began = time.monotonic()
    alone = proxied("alone", env)
    serving_after = time.monotonic() - began
    assert serving_after < 10
    wait_until(lambda: alone.log_path.read_text().count("could not write the master list") >= 2, timeout=20,
               what="failed announces to be logged")

    # Slow: the store answers after 5 s, beyond the 1 s request timeout.
    slow = slowed(MasterListServer(), "do_GET", 5.0).start()
    began = time.monotonic()
    patient = proxied("patient", {**base_env(slow.url), **CHAOS})
    slow_serving_after = time.monotonic() - began
    assert slow_serving_after < 10 and patient.view() == {patient.base_url: True}
    slow.stop()

    # Raced: five servers announcing often into one store with ETags, whose
    # slow writes make their read-merge-write cycles overlap (412s).
    store = slowed(MasterListServer(), "do_PUT", 0.15).start()
    raced_env = {**base_env(store.url), **CHAOS, "SHAZBOT_MASTER_ANNOUNCE_MINIMUM": "0.1",
                 "SHAZBOT_MASTER_ANNOUNCE_INTERVAL": "0.2"}
    writers = [proxied(f"w{i}", raced_env) for i in range(5)]
    try:
        wait_until(lambda: store.statuses() == {w.base_url: True for w in writers} and store.puts >= 20,
                   timeout=40, what="every writer in the stored list")
        for writer in writers:  # stop them all; each writes on the way out
            writer.stop(signal.SIGTERM)
        stored = store.statuses()
        assert stored == {w.base_url: False for w in writers}, stored
        assert store.precondition_failures > 0  # the race happened, and lost nothing
        report("master list", down_at_start_serving_after=f"{serving_after:.1f}s",
               slow_store_serving_after=f"{slow_serving_after:.1f}s", concurrent_writes=store.puts,
               precondition_failures_retried=store.precondition_failures, lost_writers=0)
    finally:
        store.stop()
    assert alone.view()[alone.base_url] is True


def test_kill_and_restart_loop_keeps_the_invariants(
    proxied: Start, chaos_env: dict[str, str], master_store: MasterListServer
) -> None:
    group = cluster(proxied, chaos_env, 5, master_store)
    rng = random.Random(5)
    detections, rejoins = [], []
    for _ in range(4):
        victim = rng.choice(group)
        others = [s for s in group if s is not victim]
        victim.stop(signal.SIGKILL)
        killed = time.monotonic()
        wait_until(partial(sees, others, victim, False), timeout=30, what="the victim declared offline")
        detections.append(time.monotonic() - killed)
        settled = time.monotonic()
        while time.monotonic() - settled < 1.0:  # once settled offline, it never comes back by itself
            assert sees(others, victim, False)
            time.sleep(0.1)
        victim.start()
        restarted = time.monotonic()
        wait_until(lambda: all_online(group), timeout=30, what="the victim back everywhere")
        rejoins.append(time.monotonic() - restarted)
    report("kill -9 loop", failure_timeout="2s", detected_after=[f"{d:.1f}s" for d in detections],
           rejoined_after=[f"{r:.1f}s" for r in rejoins])


def introduce(newcomer: ProxiedServer, member: ProxiedServer) -> None:
    """Tell ``newcomer`` about ``member``, as a master list would."""
    entry = {s["baseUrl"]: s for s in member.raw_view()["online"]}[member.base_url]
    requests.post(newcomer.url("gossip"), headers={"Authorization": GOSSIP_SECRET}, timeout=5,
                  json={"message": "gossip", "online": [entry]}).raise_for_status()


def test_clock_offsets(proxied: Start, chaos_env: dict[str, str], master_store: MasterListServer) -> None:
    require_tool("faketime", "faketime")
    honest = cluster(proxied, chaos_env, 2, master_store)
    skewed = proxied("skewed", chaos_env, prefix=["faketime", "-f", "+60s"])  # within the 300 s limit
    introduce(skewed, honest[0])
    wait_until(lambda: all_online([*honest, skewed]), timeout=40, what="a 60 s offset to behave")
    rogue = proxied("rogue", chaos_env, prefix=["faketime", "-f", "+600s"])  # beyond it
    introduce(rogue, honest[0])
    wait_until(lambda: "in the future" in honest[0].log_path.read_text() + honest[1].log_path.read_text(),
               timeout=30, what="the rogue clock to be refused loudly")
    time.sleep(2)
    for server in [*honest, skewed]:
        view = server.view()
        assert rogue.base_url not in view or view[rogue.base_url] is False
        assert all(view[s.base_url] for s in [*honest, skewed])
    logs = honest[0].log_path.read_text() + honest[1].log_path.read_text()
    line = next(line for line in logs.splitlines() if "in the future" in line)
    assert rogue.base_url in line  # names the peer
    report("clock offset", within_limit="+60s behaves", beyond_limit="+600s refused", log=line.split(" ", 3)[-1])
