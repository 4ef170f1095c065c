"""``@shazbot.cluster_job``: registered on the extension, scheduled in the
gossip loop, run at each fire time only by the server that owns the job id
(docs/cluster-jobs.md). Real scheduler, short intervals, polled with a deadline."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, current_app

from flask_clustershazbot import Shazbot
from flask_clustershazbot.protocol.ownership import owner_of

from ..support.cluster import CONTROL_SECRET, GOSSIP_SECRET
from ..support.config import config_dict
from ..support.waiting import wait_until

GOSSIP = {"Authorization": f"Bearer {GOSSIP_SECRET}"}
CONTROL = {"Authorization": f"Bearer {CONTROL_SECRET}"}
SELF = "http://127.0.0.1:5999/"
# Nothing listens there: exchanges with it fail at once, and with a long
# failure timeout and no indirect probes it stays online in the view.
PEER = "http://127.0.0.1:9/"
FIRE = 0.1  # seconds between fire times

QUIET_PEER = {"SHAZBOT_FAILURE_TIMEOUT": 600, "SHAZBOT_INDIRECT_PROBES": 0, "SHAZBOT_GOSSIP_INTERVAL": 0.2}


@pytest.fixture
def apps() -> Iterator[list[Flask]]:
    """Apps built by the test; each one shut down at the end."""
    made: list[Flask] = []
    yield made
    for app in made:
        app.extensions["shazbot.member"].shutdown()


def new_app(apps: list[Flask], tmp_path: Path, shazbot: Shazbot, **overrides: Any) -> Flask:
    app = Flask("jobs_app")
    app.config.update(config_dict(tmp_path, **overrides))
    shazbot.init_app(app)
    apps.append(app)
    return app


def add_peer(app: Flask, url: str = PEER) -> None:
    """Tell the server about an online peer, as the peer's gossip would."""
    message = {"message": "gossip", "online": [{"baseUrl": url, "monitor": False,
                                               "lastUpdate": int(time.time() * 1000)}]}
    assert app.test_client().post("/clustershazbot/gossip", json=message, headers=GOSSIP).status_code == 200


def job_id_owned_by(url: str, candidates: list[str], prefix: str) -> str:
    return next(f"{prefix}-{i}" for i in range(1000) if owner_of(f"{prefix}-{i}", candidates) == url)


def messages(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(1 for r in caplog.records if text in r.getMessage())


def test_a_job_decorated_before_or_after_init_app_runs_in_every_app_in_its_context(
    apps: list[Flask], tmp_path: Path
) -> None:
    shazbot = Shazbot()
    ran: list[tuple[str, str]] = []

    @shazbot.cluster_job("before", "interval", seconds=FIRE)
    def before() -> None:
        ran.append(("before", current_app.config["SHAZBOT_BASE_URL"]))

    first = new_app(apps, tmp_path / "a", shazbot, SHAZBOT_BASE_URL="http://127.0.0.1:5001/")
    second = new_app(apps, tmp_path / "b", shazbot, SHAZBOT_BASE_URL="http://127.0.0.1:5002/")

    @shazbot.cluster_job("after", "interval", seconds=FIRE)
    def after() -> None:
        ran.append(("after", current_app.config["SHAZBOT_BASE_URL"]))

    for app in (first, second):
        with app.app_context():
            shazbot.start()

    @shazbot.cluster_job("while-running", "interval", seconds=FIRE)
    def later() -> None:
        ran.append(("while-running", current_app.config["SHAZBOT_BASE_URL"]))

    # Each app is a server alone in its view: it owns every job.
    wanted = {(job, url) for job in ("before", "after", "while-running")
              for url in ("http://127.0.0.1:5001/", "http://127.0.0.1:5002/")}
    wait_until(lambda: wanted <= set(ran), timeout=10, what=f"every job in both apps, got {set(ran)}")


def test_job_ids_are_unique_per_extension_and_triggers_are_checked_at_once() -> None:
    shazbot = Shazbot()
    shazbot.cluster_job("report", "interval", minutes=5)(lambda: None)
    with pytest.raises(ValueError, match="already registered"):
        shazbot.cluster_job("report", "cron", hour=3)(lambda: None)
    Shazbot().cluster_job("report", "interval", minutes=5)(lambda: None)  # another extension: its own ids
    with pytest.raises(ValueError, match="interval, cron, date"):
        shazbot.cluster_job("x", "every", seconds=1)(lambda: None)
    with pytest.raises(ValueError, match="bad arguments"):
        shazbot.cluster_job("y", "interval", second=1)(lambda: None)
    with pytest.raises(ValueError):
        shazbot.cluster_job("z", "cron", hour=25)(lambda: None)
    with pytest.raises(ValueError, match="not a metadata key"):
        shazbot.cluster_job("w", "interval", seconds=1, filters={"Role": "x"})(lambda: None)
    with pytest.raises(ValueError, match="non-empty"):
        shazbot.cluster_job("", "interval", seconds=1)(lambda: None)


def test_only_the_owner_runs_a_job_and_a_drained_server_runs_none(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="flask_clustershazbot")
    app = make_app(**QUIET_PEER)
    shazbot: Shazbot = app.extensions["shazbot"]
    mine = job_id_owned_by(SELF, [SELF, PEER], "mine")
    theirs = job_id_owned_by(PEER, [SELF, PEER], "theirs")
    ran: list[str] = []
    shazbot.cluster_job(mine, "interval", seconds=FIRE)(lambda: ran.append(mine))
    shazbot.cluster_job(theirs, "interval", seconds=FIRE)(lambda: ran.append(theirs))
    add_peer(app)
    shazbot.start()
    assert {e.base_url for e in shazbot.online()} == {SELF, PEER}

    wait_until(lambda: ran.count(mine) >= 3, timeout=10, what="the owned job to run 3 times")
    wait_until(lambda: messages(caplog, f"{theirs!r}: another server owns it") >= 3, timeout=10,
               what="the other server's job to fire 3 times")
    assert theirs not in ran

    client = app.test_client()
    assert client.post("/clustershazbot/control", json={"message": "control", "online": False},
                       headers=CONTROL).get_json() == {"success": True}
    skipped = messages(caplog, f"{mine!r}: another server owns it")
    ran_before_drain = len(ran)
    wait_until(lambda: messages(caplog, f"{mine!r}: another server owns it") >= skipped + 3, timeout=10,
               what="the drained server to skip its job 3 times")
    # A fire under way when the drain arrived may still finish.
    assert len(ran) <= ran_before_drain + 1 and theirs not in ran

    client.post("/clustershazbot/control", json={"message": "control", "online": True}, headers=CONTROL)
    returned = len(ran)
    wait_until(lambda: ran.count(mine) >= returned + 2, timeout=10, what="the job to run again after a return")
    assert theirs not in ran


def test_a_failing_job_is_logged_with_its_id_and_fires_again(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app()
    shazbot: Shazbot = app.extensions["shazbot"]

    @shazbot.cluster_job("nightly-report", "interval", seconds=FIRE)
    def fail() -> None:
        raise RuntimeError("the report broke")

    shazbot.start()
    wait_until(lambda: messages(caplog, "cluster job 'nightly-report' failed") >= 2, timeout=10,
               what="two failures logged")
    failed = next(r for r in caplog.records if "cluster job 'nightly-report' failed" in r.getMessage())
    assert failed.levelno == logging.ERROR and failed.exc_info is not None
    assert "the report broke" in str(failed.exc_info[1])


def test_a_slow_job_does_not_hold_up_the_gossip_tick(make_app: Callable[..., Flask]) -> None:
    app = make_app(SHAZBOT_GOSSIP_INTERVAL=0.1)
    shazbot: Shazbot = app.extensions["shazbot"]
    release = threading.Event()
    started = threading.Event()

    @shazbot.cluster_job("slow", "interval", seconds=FIRE)
    def slow() -> None:
        started.set()
        release.wait(30)

    try:
        shazbot.start()
        assert started.wait(10)
        heartbeat = shazbot.node.own_entry().last_update
        # The tick heartbeats this server's entry: it goes on while the job runs.
        wait_until(lambda: shazbot.node.own_entry().last_update >= heartbeat + 300, timeout=10,
                   what="three more ticks while the job runs")
        assert not release.is_set()
    finally:
        release.set()


def test_shutdown_stops_the_jobs_before_the_goodbye(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    app = make_app(SHAZBOT_UPDATE_MASTER_LIST_ON_SHUTDOWN=True)
    shazbot: Shazbot = app.extensions["shazbot"]
    online_when_run: list[bool] = []

    @shazbot.cluster_job("tidy", "interval", seconds=FIRE / 2)
    def tidy() -> None:
        online_when_run.append(shazbot.is_online)

    # Another server, alone in its own cluster, whose same job tells time passing.
    witness_app = make_app(SHAZBOT_BASE_URL="http://127.0.0.1:5998/",
                           SHAZBOT_MASTER_LIST=(tmp_path / "other.json").as_uri(),
                           SHAZBOT_MASTER_LIST_UPDATE=(tmp_path / "other.json").as_uri())
    witness: Shazbot = witness_app.extensions["shazbot"]
    witness_runs: list[float] = []
    witness.cluster_job("tidy", "interval", seconds=FIRE / 2)(lambda: witness_runs.append(time.monotonic()))
    shazbot.start()
    witness.start()
    wait_until(lambda: len(online_when_run) >= 4, timeout=10, what="the job to run")
    shazbot.shutdown()
    assert not shazbot.is_online
    runs, witnessed = len(online_when_run), len(witness_runs)
    wait_until(lambda: len(witness_runs) >= witnessed + 6, timeout=10, what="six more fire times")
    # Every run saw the server online, and none came after the goodbye.
    assert all(online_when_run) and len(online_when_run) == runs
