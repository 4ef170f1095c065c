"""The Flask extension: ``Shazbot(app)`` or ``Shazbot().init_app(app)``.

``init_app`` only registers (config, blueprint, CLI, the autostart hook); it
starts no thread and does no network I/O. The gossip loop starts:

* on the first request the app handles, when SHAZBOT_AUTOSTART is true (the
  default) and the app is not in testing mode; any request counts, so a
  load-balancer health check or readiness probe starts it;
* when ``shazbot.start()`` is called;
* under gunicorn, in each worker right after it boots, with the hooks of
  :mod:`flask_clustershazbot.gunicorn`.

It never starts in a ``flask`` CLI command, and at most once per process.

Under gunicorn (or with SHAZBOT_STATE_PATH set) the view lives in a SQLite
file shared by every worker of the server, and only the worker that holds the
leader lock runs the gossip loop. A worker that exits says nothing: the
gunicorn master says goodbye once, when the whole server stops.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from typing import Any, ClassVar

from flask import Flask, current_app

from . import signals
from .blueprint import create_blueprint
from .cli import shazbot_cli
from .config import ShazbotConfig, load_config
from .election import LeaderElection
from .handlers import Body, RequestHandlers
from .loop import GossipLoop
from .model import ServerEntry, ServerList
from .node import ClusterNode
from .process import gunicorn_hooks_installed, run_id, under_gunicorn
from .sqlite_store import SqliteStore, default_state_path

log = logging.getLogger("flask_clustershazbot")

__all__ = ["Shazbot", "gossip_request", "list_request", "control_request"]


class Shazbot:
    """Cluster membership for one Flask app; the handle is ``app.extensions["shazbot"]``."""

    _instances: ClassVar[weakref.WeakSet[Shazbot]] = weakref.WeakSet()

    def __init__(self, app: Flask | None = None) -> None:
        self._config: ShazbotConfig | None = None
        self._node: ClusterNode | None = None
        self._handlers: RequestHandlers | None = None
        self._loop: GossipLoop | None = None
        self._lock = threading.Lock()
        self._state = "new"  # new -> running -> stopped
        self._election: LeaderElection | None = None
        self._app: Flask | None = None
        self._signalled: dict[str, bool] | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        if self._config is not None:
            raise RuntimeError("this Shazbot is already bound to an app; create one per app")
        config = load_config(app.config)
        state_path = config.state_path or (default_state_path(config.base_url) if under_gunicorn() else None)
        node = ClusterNode(config, state_path=state_path)
        self._config, self._node = config, node
        self._app = app
        self._loop = GossipLoop(node, after_job=self._send_signals)
        self._handlers = RequestHandlers(node, config, on_control=self._spread)
        app.extensions["shazbot"] = self
        app.register_blueprint(create_blueprint(self._handlers, config.url_prefix))
        app.cli.add_command(shazbot_cli)
        if config.autostart:
            app.before_request(self._autostart)
        Shazbot._instances.add(self)

    @classmethod
    def instances(cls) -> list[Shazbot]:
        """Every initialised extension in this process (for the gunicorn hooks)."""
        return list(cls._instances)

    # -- parts ---------------------------------------------------------------

    @property
    def config(self) -> ShazbotConfig:
        if self._config is None:
            raise RuntimeError("Shazbot.init_app(app) has not been called")
        return self._config

    @property
    def node(self) -> ClusterNode:
        if self._node is None:
            raise RuntimeError("Shazbot.init_app(app) has not been called")
        return self._node

    @property
    def handlers(self) -> RequestHandlers:
        if self._handlers is None:
            raise RuntimeError("Shazbot.init_app(app) has not been called")
        return self._handlers

    # -- life cycle ----------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._state == "running"

    def _autostart(self) -> None:
        if self._state == "new" and not current_app.testing:
            self.start()

    @property
    def shared_store(self) -> SqliteStore | None:
        """The store shared by this server's processes, if it has several."""
        store = self.node.store
        return store if isinstance(store, SqliteStore) else None

    @property
    def is_leader(self) -> bool:
        """Whether this process runs the server's gossip loop."""
        return self._loop is not None and self._loop.running

    def start(self) -> None:
        """Join the cluster: go online with a new version and start the gossip
        loop in a background thread (in one process per server). Returns at
        once; a second call does nothing."""
        with self._lock:
            if self._state != "new":
                return
            self._state = "running"
        store = self.shared_store
        if store is None:
            self.node.begin_run()
            assert self._loop is not None
            self._loop.start()
        else:
            serving_pid = os.getppid() if under_gunicorn() else os.getpid()
            if store.claim_instance(run_id(serving_pid)):
                self.node.begin_run()  # the first process of a new run
            if under_gunicorn() and not gunicorn_hooks_installed():
                log.warning(
                    "running under gunicorn without the flask_clustershazbot.gunicorn hooks: "
                    "this server will not say goodbye when it stops; see README 'Deploying with gunicorn'"
                )
            self._election = LeaderElection(store.path + ".lock", self._lead)
            self._election.start()
        atexit.register(self.shutdown)

    def _lead(self) -> None:
        with self._lock:
            if self._state != "running":
                return
            store = self.shared_store
            if store is not None:
                store.set_meta("leader_pid", str(os.getpid()))
            assert self._loop is not None
            self._loop.start()

    def _send_signals(self) -> None:
        """Signal what changed since the last call (in the loop's process)."""
        entries = {e.base_url: e for e in self.node.entries()}
        now = {url: e.online for url, e in entries.items()}
        before = self._signalled or {}
        self._signalled = now
        went_online = sorted(u for u, online in now.items() if online and before.get(u) is not True)
        went_offline = sorted(u for u, online in now.items() if not online and before.get(u) is True)
        went_offline += sorted(u for u, online in before.items() if online and u not in now)
        if not (went_online or went_offline):
            return
        app = self._app
        assert app is not None
        with app.app_context():  # receivers may use current_app, as in a request
            for url in went_online:
                signals.server_online.send(app, base_url=url, entry=entries[url])
            for url in went_offline:
                signals.server_offline.send(app, base_url=url, entry=entries.get(url))
            signals.view_changed.send(app, online=went_online, offline=went_offline, view=list(entries.values()))

    def _spread(self) -> None:
        """Tell a peer about a drain or return at once, from whichever
        process handled it."""
        if self._loop is not None and self._loop.running:
            self._loop.request_spread()
        elif self._state == "running":
            threading.Thread(target=self.node.spread, name="shazbot-spread", daemon=True).start()

    def shutdown(self) -> None:
        """Leave the cluster: announce offline to a few peers within
        SHAZBOT_SHUTDOWN_TIMEOUT, write the master list if configured, stop
        the loop. Idempotent; also runs at interpreter exit.

        In a gunicorn worker it only stops this process's part: the server
        keeps running, and the master says goodbye when the whole server stops.
        """
        with self._lock:
            if self._state != "running":
                self._state = "stopped"
                return
            self._state = "stopped"
        assert self._loop is not None
        self._loop.stop()
        if self._election is not None:
            self._election.release()
        if self.shared_store is None or not under_gunicorn():
            self.node.leave(write_master_list=self.config.update_master_list_on_shutdown)
        self.node.close()
        atexit.unregister(self.shutdown)

    def leave_server(self) -> None:
        """Say goodbye for the whole server from the gunicorn master, once all
        its workers are gone; does nothing if this run never started."""
        store = self.shared_store
        if store is None or store.get_meta("instance") != run_id(os.getpid()):
            return
        self.node.leave(write_master_list=self.config.update_master_list_on_shutdown)
        self.node.close()

    # -- read API ------------------------------------------------------------

    def servers(self) -> list[ServerEntry]:
        """Every server this one knows, sorted by base URL."""
        return sorted(self.node.entries(), key=lambda e: e.base_url)

    def online(self) -> list[ServerEntry]:
        """The servers currently online (this one included, unless drained)."""
        return [e for e in self.servers() if e.online]

    def offline(self) -> list[ServerEntry]:
        return [e for e in self.servers() if not e.online]

    @property
    def is_online(self) -> bool:
        """Whether this server is online (not drained, not shut down)."""
        return self.node.own_entry().online

    def view(self) -> ServerList:
        """This server's view in wire form: ``{"online": [...], "offline": [...]}``."""
        return self.node.server_list()

    def set_online(self, online: bool) -> None:
        """Drain (``False``) or return (``True``) this server, as the control endpoint does."""
        if self.node.set_online(online):
            self._spread()

    # -- seed API ------------------------------------------------------------

    def gossip_request(self, authorization: str | None, body: Body) -> dict[str, Any]:
        return self.handlers.gossip_request(authorization, body)

    def list_request(self, authorization: str | None) -> ServerList:
        return self.handlers.list_request(authorization)

    def control_request(self, authorization: str | None, body: Body) -> dict[str, Any]:
        return self.handlers.control_request(authorization, body)


def _current() -> Shazbot:
    extension: Shazbot = current_app.extensions["shazbot"]
    return extension


def gossip_request(authorization: str | None, body: Body) -> dict[str, Any]:
    """``gossipRequest`` of the seed library, for the current app."""
    return _current().gossip_request(authorization, body)


def list_request(authorization: str | None) -> ServerList:
    """``listRequest`` of the seed library, for the current app."""
    return _current().list_request(authorization)


def control_request(authorization: str | None, body: Body) -> dict[str, Any]:
    """``controlRequest`` of the seed library, for the current app."""
    return _current().control_request(authorization, body)
