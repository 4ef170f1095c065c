"""The member life cycle in one process: restarts, start racing shutdown,
a quiet exit, the leader lock given back, and warnings that do not flood."""

from __future__ import annotations

import fcntl
import logging
import os
import random
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from flask_clustershazbot import Shazbot
from flask_clustershazbot.state.election import LeaderElection

from ..support.cluster import GOSSIP_SECRET, ROOT
from ..support.waiting import wait_until


def scheduler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "APScheduler" and t.is_alive()]


def test_a_second_start_in_the_same_process_is_a_new_run(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    state = str(tmp_path / "state.sqlite3")
    first = make_app(SHAZBOT_STATE_PATH=state, SHAZBOT_GOSSIP_INTERVAL=0.1)
    shazbot: Shazbot = first.extensions["shazbot"]
    shazbot.start()
    wait_until(lambda: shazbot.is_leader, timeout=10, what="the first member to lead")
    shazbot.shutdown()

    # An app factory run again in the same process, with the same state file.
    second = make_app(SHAZBOT_STATE_PATH=state, SHAZBOT_GOSSIP_INTERVAL=0.1)
    again: Shazbot = second.extensions["shazbot"]
    again.start()
    try:
        assert again.is_online
        wait_until(lambda: again.is_leader, timeout=10, what="the second member to lead")
        assert second.test_client().get("/clustershazbot/health").status_code == 200
    finally:
        again.shutdown()


def test_one_of_the_processes_sharing_a_state_leads_and_the_lead_moves_when_it_stops(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    """Two members on one state file stand for two workers of one server:
    exactly one runs the gossip loop, and the other takes over once it stops."""
    state = str(tmp_path / "state.sqlite3")
    members: list[Shazbot] = [
        make_app(SHAZBOT_STATE_PATH=state, SHAZBOT_GOSSIP_INTERVAL=0.1).extensions["shazbot"] for _ in range(2)
    ]
    for member in members:
        member.start()
    try:
        wait_until(lambda: any(m.is_leader for m in members), timeout=10, what="a leader")
        leader = next(m for m in members if m.is_leader)
        follower = next(m for m in members if m is not leader)
        assert not follower.is_leader
        leader.shutdown()
        wait_until(lambda: follower.is_leader, timeout=10, what="the lead to move")
    finally:
        for member in members:
            member.shutdown()


def _stop_after(shazbot: Shazbot, delay: float) -> None:
    threading.Event().wait(delay)
    shazbot.shutdown()


def test_no_interleaving_of_start_and_shutdown_leaves_a_loop_running_or_the_server_online(
    make_app: Callable[..., Flask],
) -> None:
    rng = random.Random(7)
    for _ in range(150):
        app = make_app(SHAZBOT_GOSSIP_INTERVAL=0.05)
        shazbot: Shazbot = app.extensions["shazbot"]
        delay = rng.uniform(0, 0.002)
        starter = threading.Thread(target=shazbot.start)
        stopper = threading.Thread(target=_stop_after, args=(shazbot, delay))
        starter.start()
        stopper.start()
        starter.join(10)
        stopper.join(10)
        assert not shazbot.is_online, "online after shutdown() returned"
        assert not shazbot.running
    # Schedulers shut down with wait=False end within a moment.
    wait_until(lambda: not scheduler_threads(), timeout=10, what="every gossip loop to stop")


def test_a_process_that_exits_right_after_start_prints_nothing(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        from flask import Flask
        from flask_clustershazbot import Shazbot
        app = Flask(__name__)
        app.config.update(
            SHAZBOT_SECRET="g", SHAZBOT_CONTROL_SECRET="c", SHAZBOT_BASE_URL="http://127.0.0.1:9/",
            SHAZBOT_MASTER_LIST="file://{tmp_path}/list.json", SHAZBOT_MASTER_LIST_UPDATE="file://{tmp_path}/list.json",
            SHAZBOT_GOSSIP_INTERVAL=0.2, SHAZBOT_REQUEST_TIMEOUT=0.1,
        )
        Shazbot(app).start()
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHAZBOT_")} | {"PYTHONPATH": str(ROOT)}
    for _ in range(4):
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=60)
        assert done.returncode == 0
        assert done.stderr.decode() == ""


def test_a_released_election_gives_the_lock_back_even_if_it_arrives_later(tmp_path: Path) -> None:
    lock_path = str(tmp_path / "leader.lock")
    holder = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)
    elected: list[str] = []
    waiting = LeaderElection(lock_path, lambda: elected.append("first"))
    waiting.start()
    waiting.release()  # while it still waits for the lock
    os.close(holder)  # the lock becomes free: the released election must not keep it

    later = LeaderElection(lock_path, lambda: elected.append("later"))
    later.start()
    try:
        wait_until(lambda: "later" in elected, timeout=10, what="a later election in this process to win")
        assert elected == ["later"]
    finally:
        later.release()


def test_refusal_warnings_are_rate_limited_per_peer(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    client = make_app().test_client()
    future = int(time.time() * 1000) + 3_600_000
    message = {"message": "gossip", "online": [{"baseUrl": "http://ahead/", "monitor": False, "lastUpdate": future}]}
    headers = {"Authorization": f"Bearer {GOSSIP_SECRET}"}
    with caplog.at_level(logging.WARNING, logger="flask_clustershazbot"):
        for sender in ["http://a/"] * 30 + ["http://b/"] * 30:
            response = client.post("/clustershazbot/gossip", json=message,
                                   headers={**headers, "X-Clustershazbot-Sender": sender})
            assert response.status_code == 200
    refusals = [r.getMessage() for r in caplog.records if "in the future" in r.getMessage()]
    # One warning for each peer, not sixty.
    assert len(refusals) == 2, refusals
    assert any("http://a/" in line for line in refusals) and any("http://b/" in line for line in refusals)
