"""A cluster job with real gunicorn servers (3 servers x 2 workers): about
once per fire time in the whole cluster, in one process, and it moves after
its owner is drained or killed (docs/cluster-jobs.md)."""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ..support.chaos import report
from ..support.cluster import CONTROL_SECRET, GOSSIP_SECRET
from ..support.gunicorn_server import GunicornServer
from ..support.waiting import wait_until

JOB_INTERVAL = 1.0
GOSSIP_INTERVAL = 0.25
FAILURE_TIMEOUT = 3.0
STEADY_FIRES = 8


def fires(log: Path, since: float = 0.0) -> list[tuple[str, int, float]]:
    """(base URL, pid, time) of every run recorded at or after ``since``."""
    if not log.exists():
        return []
    runs = []
    for line in log.read_text().splitlines():
        url, pid, at = line.split()
        if float(at) >= since:
            runs.append((url, int(pid), float(at)))
    return runs


def fire_time(at: float) -> int:
    # Fire times are whole multiples of the interval, the same on every
    # server; a run starts a few milliseconds after its fire time.
    return math.floor(at / JOB_INTERVAL)


def online_everywhere(servers: list[GunicornServer], urls: set[str]) -> bool:
    return all({e["baseUrl"] for e in s.list().json()["online"]} >= urls for s in servers)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Callable[[int], list[GunicornServer]]]:
    started: list[GunicornServer] = []
    master_list = tmp_path / "masterlist.json"
    master_list.write_text(json.dumps({"online": [], "offline": []}))

    def start(count: int) -> list[GunicornServer]:
        env = {
            "SHAZBOT_SECRET": GOSSIP_SECRET,
            "SHAZBOT_CONTROL_SECRET": CONTROL_SECRET,
            "SHAZBOT_MASTER_LIST": master_list.as_uri(),
            "SHAZBOT_MASTER_LIST_UPDATE": master_list.as_uri(),
            "SHAZBOT_GOSSIP_INTERVAL": str(GOSSIP_INTERVAL),
            "SHAZBOT_FAILURE_TIMEOUT": str(FAILURE_TIMEOUT),
            "SHAZBOT_REQUEST_TIMEOUT": "1",
            "SHAZBOT_MASTER_ANNOUNCE_MINIMUM": "0.2",
            "SHAZBOT_MASTER_ANNOUNCE_INTERVAL": "0.5",
            "CLUSTER_JOB_LOG": str(tmp_path / "fires.txt"),
            "CLUSTER_JOB_INTERVAL": str(JOB_INTERVAL),
        }
        for index in range(count):
            home = tmp_path / f"server{index}"
            home.mkdir()
            server = GunicornServer(env, home, workers=2, app="tests.support.cluster_jobs_app:app")
            started.append(server)
            server.start()
        return started

    yield start
    for server in started:
        server.kill_all()


def test_an_interval_job_fires_once_per_interval_in_the_cluster_and_moves_after_a_drain_and_a_kill(
    cluster: Callable[[int], list[GunicornServer]], tmp_path: Path
) -> None:
    log = tmp_path / "fires.txt"
    servers = cluster(3)
    urls = {s.base_url for s in servers}
    wait_until(lambda: online_everywhere(servers, urls), timeout=20, what="every server to see the others online")
    by_url = {s.base_url: s for s in servers}

    # Steady state: whole fire times after the views agree.
    began = (fire_time(time.time()) + 1) * JOB_INTERVAL
    wait_until(lambda: fire_time(time.time()) >= fire_time(began) + STEADY_FIRES, timeout=STEADY_FIRES + 5,
               interval=0.2, what="the steady window to pass")
    ended = fire_time(began) + STEADY_FIRES
    steady = [f for f in fires(log, began) if fire_time(f[2]) < ended]
    per_fire = Counter(fire_time(at) for _, _, at in steady)
    # About once per fire time in the whole cluster: not once per server (24)
    # nor per worker (48). Bounds for a loaded machine, where a view may flap.
    assert STEADY_FIRES - 2 <= len(steady) <= STEADY_FIRES + 2, steady
    assert sum(1 for count in per_fire.values() if count == 1) >= STEADY_FIRES - 2, steady
    # Always in one process of a server: its leading worker, never two
    # workers at one fire time, never the master.
    assert max(Counter((fire_time(at), url) for url, _, at in steady).values()) == 1, steady
    for url, pid, _ in steady:
        assert pid in by_url[url].workers(), (url, pid)
    owner = Counter(url for url, _, _ in steady).most_common(1)[0][0]

    # Drain the owner: another server runs it within a few intervals.
    assert by_url[owner].control(False).json() == {"success": True}
    drained_at = time.time()
    moved = wait_until(lambda: [f for f in fires(log, drained_at) if f[0] != owner], timeout=5 * JOB_INTERVAL,
                       what="the job to run on another server after the drain")
    second = moved[0][0]
    moved_after = moved[0][2] - drained_at
    wait_until(lambda: fire_time(time.time()) >= fire_time(moved[0][2]) + 2, timeout=5, interval=0.2,
               what="two more fire times")
    # The drained server runs nothing after the fire that was under way.
    assert not [f for f in fires(log, drained_at + JOB_INTERVAL) if f[0] == owner]

    # Kill the new owner (master and workers, SIGKILL): the last online server
    # takes it over once the crash is detected.
    third = (urls - {owner, second}).pop()
    by_url[second].kill_all()
    killed_at = time.time()
    took_over = wait_until(lambda: [f for f in fires(log, killed_at) if f[0] == third],
                           timeout=FAILURE_TIMEOUT + 5 * JOB_INTERVAL, what="the job to move after the kill")
    taken_after = took_over[0][2] - killed_at
    after_kill = fires(log, killed_at)
    assert {url for url, _, _ in after_kill} <= {third}, after_kill
    report("cluster job", moved_after_drain=f"{moved_after:.1f}s", moved_after_kill=f"{taken_after:.1f}s",
           steady_runs=len(steady))
