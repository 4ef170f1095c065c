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
import contextlib
import logging
import os
import threading
import time
import weakref
from typing import Any, ClassVar

from flask import Flask, current_app

from .blueprint import create_blueprint
from .cli import shazbot_cli
from .config import ShazbotConfig, load_config
from .election import LeaderElection
from .errors import StoreBusy
from .handlers import Body, RequestHandlers
from .loop import GossipLoop
from .model import ServerEntry, ServerList
from .node import ClusterNode
from .process import gunicorn_hooks_installed, run_id, under_gunicorn
from .signal_dispatch import SignalDispatcher
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
        # Serialises start, shutdown and taking the lead, so that no
        # interleaving leaves a loop running or this server online after
        # shutdown() has returned.
        self._lock = threading.RLock()
        self._state = "new"  # new -> running -> stopped
        self._election: LeaderElection | None = None
        self._app: Flask | None = None
        self._signalled: SignalDispatcher  # set by init_app
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
        self._signalled = SignalDispatcher(app)
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
            try:
                self._begin()
            except BaseException:
                # Not half-started: a later start() (or request) tries again.
                self._state = "new"
                raise
            _shutdown_at_exit(self)

    def _begin(self) -> None:
        """Go online and start the loop, or join the leader election."""
        store = self.shared_store
        if store is None:
            self.node.begin_run()
            assert self._loop is not None
            self._loop.start()
        else:
            try:
                self._join_run(store)
            except StoreBusy:
                # Another process of this server holds the state locked
                # (stopped mid-write): never fail a gunicorn worker's boot
                # over it, join the run as soon as the lock is free.
                log.warning("shared state busy at start; joining the run in the background")
                threading.Thread(target=self._join_run_later, args=(store,), name="shazbot-join",
                                 daemon=True).start()
            if under_gunicorn() and not gunicorn_hooks_installed():
                log.warning(
                    "running under gunicorn without the flask_clustershazbot.gunicorn hooks: "
                    "this server will not say goodbye when it stops; see README 'Deploying with gunicorn'"
                )
            self._election = LeaderElection(store.path + ".lock", self._lead)
            self._election.start()

    def _join_run(self, store: SqliteStore) -> None:
        serving_pid = os.getppid() if under_gunicorn() else os.getpid()
        # Only a gunicorn worker can join a run already under way (its
        # server's); any other start, even in the same process, is new.
        if store.claim_instance(run_id(serving_pid)) or not under_gunicorn():
            self.node.begin_run()

    def _join_run_later(self, store: SqliteStore) -> None:
        delay = 0.5
        while True:
            with self._lock:
                if self._state != "running":
                    return
                try:
                    self._join_run(store)
                    return
                except StoreBusy:
                    pass
            time.sleep(delay)
            delay = min(delay * 2, 10.0)

    def _lead(self) -> None:
        with self._lock:
            if self._state != "running":
                return
            assert self._loop is not None
            self._loop.start()
            store = self.shared_store
            if store is not None:
                # Informational only; the loop runs regardless.
                with contextlib.suppress(StoreBusy):
                    store.set_meta("leader_pid", str(os.getpid()))

    def _send_signals(self) -> None:
        """Hand the view to the signal dispatcher (in the loop's process).
        Returns at once: receivers run in the dispatcher's thread, never in
        the gossip loop (see :mod:`flask_clustershazbot.signals`)."""
        self._signalled.post(self.node.entries())

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
            # Undelivered signals are dropped; a receiver still running is not waited for long.
            self._signalled.close(timeout=min(0.1, self.config.shutdown_timeout))
            if self._election is not None:
                self._election.release()
            if self.shared_store is None or not under_gunicorn():
                self.node.leave(write_master_list=self.config.update_master_list_on_shutdown)
            self.node.close()

    def leave_server(self) -> None:
        """Say goodbye for the whole server from the gunicorn master, once all
        its workers are gone; does nothing if this run never started."""
        store = self.shared_store
        if store is None or store.get_meta("instance") != run_id(os.getpid()):
            return
        self.node.leave(write_master_list=self.config.update_master_list_on_shutdown)
        self.node.close()

    def hand_back_run(self, pid: int) -> None:
        """In the new master of an aborted gunicorn ``USR2`` upgrade: the old
        master ``pid`` keeps serving, so this run is its again (it says
        goodbye when it stops) and nothing is announced now."""
        store = self.shared_store
        if store is not None and store.get_meta("instance") == run_id(os.getpid()):
            store.set_meta("instance", run_id(pid))
        log.info("gunicorn upgrade aborted: the old master (pid %d) keeps serving this server", pid)

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


def _shutdown_at_exit(shazbot: Shazbot) -> None:
    """Shut ``shazbot`` down when the interpreter exits, without keeping it alive.

    Python shuts down ``concurrent.futures`` pools (APScheduler's executor)
    before it runs ``atexit`` hooks, so a loop still running then prints
    "cannot schedule new futures after shutdown". Hooks registered with
    ``threading._register_atexit`` run before that, newest first.
    """
    ref = weakref.ref(shazbot)

    def stop() -> None:
        alive = ref()
        if alive is not None:
            alive.shutdown()

    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        try:
            register(stop)
            return
        except RuntimeError:  # already shutting down
            pass
    atexit.register(stop)


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
