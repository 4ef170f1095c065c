"""Edge cases through Flask found in review: metadata set in an app factory before
the server starts, and cluster jobs declared inside an app factory."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from flask_clustershazbot import Shazbot

from ..support.cluster import GOSSIP_SECRET
from ..support.config import config_dict
from ..support.waiting import wait_until

GOSSIP = {"Authorization": f"Bearer {GOSSIP_SECRET}"}
SELF = "http://127.0.0.1:5999/"


@pytest.fixture
def apps() -> Iterator[list[Flask]]:
    """Apps built by the test; each one shut down at the end."""
    made: list[Flask] = []
    yield made
    for app in made:
        app.extensions["shazbot.member"].shutdown()


def test_metadata_set_before_the_server_starts_is_still_published_after_it_starts(
    make_app: Callable[..., Flask],
) -> None:
    """An app factory publishes what it knows at start (a version, a host)
    with ``set_metadata``; the server then starts (first request, gunicorn's
    post_worker_init). ``set_metadata`` returned without error and
    ``shazbot.metadata`` said so, yet starting puts SHAZBOT_METADATA back."""
    app = make_app(SHAZBOT_METADATA='{"role": "web"}')
    shazbot: Shazbot = app.extensions["shazbot"]
    with app.app_context():
        shazbot.set_metadata({"role": "web", "version": "1.2.3"})
        assert shazbot.metadata == {"role": "web", "version": "1.2.3"}
        shazbot.start()
        assert shazbot.metadata == {"role": "web", "version": "1.2.3"}
    listed = app.test_client().get("/clustershazbot/list", headers=GOSSIP).get_json()
    own = next(s for s in listed["online"] if s["baseUrl"] == SELF)
    assert own.get("meta") == {"role": "web", "version": "1.2.3"}


def test_an_app_factory_that_declares_its_cluster_jobs_can_build_a_second_app(
    apps: list[Flask], tmp_path: Path
) -> None:
    """docs/cluster-jobs.md: "It works with the app factory pattern: decorate
    before or after init_app". A factory that decorates after init_app (as
    it registers routes) cannot be called twice in one process (one app per
    test): the second call raises ValueError for the same job id."""
    shazbot = Shazbot()

    def create_app(instance: Path) -> Flask:
        app = Flask("factory_app")
        app.config.update(config_dict(instance))
        shazbot.init_app(app)
        apps.append(app)

        @shazbot.cluster_job("nightly", "cron", hour=3)
        def nightly() -> None:
            pass

        return app

    create_app(tmp_path / "first")
    create_app(tmp_path / "second")


def test_a_server_that_could_not_read_the_master_list_yet_runs_no_cluster_job(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    """A server that has not bootstrapped knows only itself, so it "owns"
    every job of the cluster and runs them all, doubling every job (not only
    those it will own) for as long as the master list is unreachable. The
    docs' table says a join doubles only the jobs the newcomer becomes owner of."""
    unreachable = "http://127.0.0.1:9/masterlist.json"  # nothing listens: refused at once
    app = make_app(
        SHAZBOT_MASTER_LIST=unreachable, SHAZBOT_MASTER_LIST_UPDATE=unreachable,
        SHAZBOT_MASTER_LIST_UPDATE_AUTH="Bearer ml-token", SHAZBOT_GOSSIP_INTERVAL=0.2,
    )
    shazbot: Shazbot = app.extensions["shazbot"]
    ran: list[str] = []
    shazbot.cluster_job("every-server-would-run-me", "interval", seconds=0.1)(lambda: ran.append("ran"))
    caplog.set_level(logging.WARNING, logger="flask_clustershazbot")
    with app.app_context():
        shazbot.start()
    wait_until(
        lambda: sum("could not read the master list" in r.getMessage() for r in caplog.records) >= 2,
        timeout=10,
        what="two failed master-list reads (several fire times)",
    )
    assert ran == [], f"ran {len(ran)} times before this server knew its cluster"
