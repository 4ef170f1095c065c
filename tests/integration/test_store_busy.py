"""A gunicorn server whose shared state stays write-locked (issue 9: a leader
stopped with SIGSTOP inside a SQLite write transaction). The other workers
answer 503 with a JSON error and Retry-After after a bounded wait, never 500
and never a hang into gunicorn's worker timeout; once the lock is released
everything answers 200 again. Real gunicorn processes on 127.0.0.1.

The lock is taken by the test itself (``BEGIN IMMEDIATE`` on the state file)
while the leader is stopped: what the workers see is the same as when the
leader is stopped between its ``BEGIN IMMEDIATE`` and ``COMMIT``, and the test
does not depend on the luck of stopping it at that instant.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from ..support.cluster import CONTROL_SECRET, GOSSIP_SECRET
from ..support.gunicorn_server import GunicornServer
from ..support.waiting import wait_until


def requests_to_every_endpoint(base_url: str) -> list[Callable[[], requests.Response]]:
    prefix = f"{base_url}clustershazbot"
    auth = {"Authorization": f"Bearer {GOSSIP_SECRET}"}
    return [
        lambda: requests.get(f"{prefix}/list", headers=auth, timeout=20),
        lambda: requests.post(f"{prefix}/gossip", headers=auth, json={"message": "gossip", "online": []}, timeout=20),
        lambda: requests.get(f"{prefix}/health", timeout=20),
        lambda: requests.get(f"{prefix}/status.json", auth=("operator", CONTROL_SECRET), timeout=20),
        lambda: requests.post(f"{prefix}/control", json={"message": "control", "online": True},
                              headers={"Authorization": f"Bearer {CONTROL_SECRET}"}, timeout=20),
    ]


def take_write_lock(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=10, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def test_a_stopped_leader_holding_the_write_lock_means_503_not_500(tmp_path: Path) -> None:
    master_list = tmp_path / "masterlist.json"
    master_list.write_text(json.dumps({"online": [], "offline": []}))
    server = GunicornServer({
        "SHAZBOT_SECRET": GOSSIP_SECRET,
        "SHAZBOT_CONTROL_SECRET": CONTROL_SECRET,
        "SHAZBOT_MASTER_LIST": master_list.as_uri(),
        "SHAZBOT_MASTER_LIST_UPDATE": master_list.as_uri(),
        "SHAZBOT_GOSSIP_INTERVAL": "0.25",
        "SHAZBOT_MASTER_ANNOUNCE_MINIMUM": "60",
    }, tmp_path, workers=3)
    calls = requests_to_every_endpoint(server.base_url)
    leader = None
    lock: sqlite3.Connection | None = None
    try:
        server.start()
        wait_until(lambda: len(server.workers()) == 3, timeout=30, what="3 workers")
        leader = wait_until(server.leader, timeout=30, what="a leader")
        lock = take_write_lock(server.state_path)
        os.kill(leader, signal.SIGSTOP)
        with ThreadPoolExecutor(len(calls)) as pool:
            answers = list(pool.map(lambda call: (time.monotonic(), call(), time.monotonic()), calls))
        for _, answer, _ in answers:
            assert answer.status_code in (200, 503), (answer.request.url, answer.status_code, answer.text)
        busy = [answer for _, answer, _ in answers if answer.status_code == 503]
        assert busy, "no request met the lock"
        for answer in busy:
            assert answer.headers["Content-Type"] == "application/json", answer.request.url
            assert "error" in answer.json() and answer.headers["Retry-After"].isdigit()
        # Each worker waits at most the busy timeout per request (a few seconds).
        assert max(ended - began for began, _, ended in answers) < 15
        lock.execute("ROLLBACK")
        lock.close()
        lock = None
        os.kill(leader, signal.SIGCONT)

        def all_ok() -> bool:
            return all(call().status_code == 200 for call in calls * 3)

        wait_until(all_ok, timeout=30, what="every endpoint to answer 200 again")
        assert leader in server.workers()  # the stopped leader came back, not killed
    finally:
        if lock is not None:
            with contextlib.suppress(sqlite3.Error):
                lock.close()
        if leader is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(leader, signal.SIGCONT)
        server.kill_all()
