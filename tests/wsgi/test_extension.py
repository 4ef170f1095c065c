"""The extension's life cycle: registration only in init_app, one start, idempotent shutdown."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from flask_clustershazbot import Shazbot
from flask_clustershazbot.errors import ConfigError
from flask_clustershazbot.masterlist.file import FileMasterList

from ..support.cluster import GOSSIP_SECRET
from ..support.config import config_dict
from ..support.waiting import wait_until


def scheduler_threads() -> int:
    return sum(1 for t in threading.enumerate() if "APScheduler" in t.name or "ThreadPoolExecutor" in t.name)


def test_init_app_registers_only(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    threads = threading.active_count()
    app = make_app(SHAZBOT_AUTOSTART=True)
    shazbot = app.extensions["shazbot"]
    assert isinstance(shazbot, Shazbot) and not shazbot.running
    assert threading.active_count() == threads
    assert not (tmp_path / "masterlist.json").exists()
    assert {r.rule for r in app.url_map.iter_rules()} >= {
        "/clustershazbot/gossip", "/clustershazbot/list", "/clustershazbot/control"
    }
    assert "shazbot" in app.cli.commands


def test_factory_pattern(tmp_path: Path) -> None:
    from examples.factory import create_app

    app = create_app(config_dict(tmp_path))
    assert isinstance(app.extensions["shazbot"], Shazbot)
    assert app.test_client().get("/").get_json()["server"] == "http://127.0.0.1:5999/"


def test_first_request_starts_the_loop_once_and_shutdown_is_idempotent(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    app = make_app(SHAZBOT_AUTOSTART=True, SHAZBOT_GOSSIP_INTERVAL=0.1, SHAZBOT_UPDATE_MASTER_LIST_ON_SHUTDOWN=True)
    app.testing = False
    shazbot: Shazbot = app.extensions["shazbot"]
    client = app.test_client()
    for _ in range(3):
        client.get("/clustershazbot/list")
    assert shazbot.running
    shazbot.start()  # a second start does nothing
    wait_until(lambda: scheduler_threads() >= 1, timeout=10, what="the scheduler thread")
    shazbot.shutdown()
    shazbot.shutdown()
    assert not shazbot.running and not shazbot.is_online
    stored = FileMasterList(f"file://{tmp_path}/masterlist.json", f"file://{tmp_path}/masterlist.json").read()
    assert [(e.base_url, e.online) for e in stored] == [("http://127.0.0.1:5999/", False)]


def test_no_autostart_when_disabled_or_testing(make_app: Callable[..., Flask]) -> None:
    disabled = make_app(SHAZBOT_AUTOSTART=False)
    disabled.testing = False
    disabled.test_client().get("/clustershazbot/list")
    assert not disabled.extensions["shazbot"].running

    testing = make_app(SHAZBOT_AUTOSTART=True)
    testing.testing = True
    testing.test_client().get("/clustershazbot/list")
    assert not testing.extensions["shazbot"].running


def test_read_api(make_app: Callable[..., Flask]) -> None:
    shazbot: Shazbot = make_app().extensions["shazbot"]
    assert shazbot.is_online
    assert [s.base_url for s in shazbot.online()] == ["http://127.0.0.1:5999/"]
    assert shazbot.offline() == []
    shazbot.set_online(False)
    assert [s.base_url for s in shazbot.offline()] == ["http://127.0.0.1:5999/"]
    assert shazbot.view()["online"] == []


def test_one_extension_object_serves_every_app_of_a_factory(tmp_path: Path) -> None:
    shazbot = Shazbot()

    def create_app(port: int) -> Flask:
        app = Flask(f"app{port}")
        app.config.update(config_dict(tmp_path, SHAZBOT_BASE_URL=f"http://127.0.0.1:{port}/"))
        shazbot.init_app(app)
        return app

    first, second = create_app(5001), create_app(5002)
    for app, port in ((first, 5001), (second, 5002)):
        with app.app_context():
            assert shazbot.config.base_url == f"http://127.0.0.1:{port}/"
            assert [s.base_url for s in shazbot.servers()] == [f"http://127.0.0.1:{port}/"]
        answer = app.test_client().get("/clustershazbot/list", headers={"Authorization": GOSSIP_SECRET})
        assert [s["baseUrl"] for s in answer.get_json()["online"]] == [f"http://127.0.0.1:{port}/"]
    with pytest.raises(RuntimeError, match="app context"):
        shazbot.servers()  # two apps, no context: which one?


def test_a_failed_init_app_leaves_the_app_untouched(tmp_path: Path) -> None:
    app = Flask("broken")
    app.config.update(config_dict(tmp_path, SHAZBOT_GOSSIP_INTERVAL="soon"))
    with pytest.raises(ConfigError):
        Shazbot(app)
    assert "shazbot" not in app.extensions
    assert "shazbot" not in app.blueprints
    assert not app.before_request_funcs


def test_a_second_init_app_on_one_app_is_a_clear_error(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    with pytest.raises(RuntimeError, match="already registered"):
        Shazbot().init_app(app)
    with pytest.raises(RuntimeError, match="already registered"):
        app.extensions["shazbot"].init_app(app)
