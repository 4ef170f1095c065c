"""One app's member of the cluster: the life cycle of the server that a Flask
app serves (start, the leader election among its processes, shutdown, the
goodbye), and the parts it is built of. :class:`~flask_clustershazbot.Shazbot`
keeps one per app, in ``app.extensions["shazbot.member"]``; users reach it
through the extension, inside the app's context.

It starts no thread and does no network I/O until :meth:`Member.start`. The
gossip loop starts:

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
from typing import ClassVar

from flask import Flask, current_app

from .config import ShazbotConfig
from .errors import StoreBusy
from .loop import GossipLoop
from .node import ClusterNode
from .signal_dispatch import SignalDispatcher
from .state.election import LeaderElection
from .state.process import gunicorn_hooks_installed, run_id, under_gunicorn
from .state.sqlite import SqliteStore, default_state_path
from .web.handlers import RequestHandlers

log = logging.getLogger("flask_clustershazbot")

__all__ = ["Member"]


class Member:
    """The cluster member of one Flask app (one server, one process of it)."""

    _instances: ClassVar[weakref.WeakSet[Member]] = weakref.WeakSet()

    def __init__(self, app: Flask, config: ShazbotConfig) -> None:
        self.app = app
        self.config = config
        state_path = config.state_path or (default_state_path(config.base_url) if under_gunicorn() else None)
        self.node = ClusterNode(config, state_path=state_path)
        self.handlers = RequestHandlers(self.node, config, on_control=self.spread)
        self._signalled = SignalDispatcher(app)
        self._loop = GossipLoop(self.node, after_job=self._send_signals)
        # Serialises start, shutdown and taking the lead, so that no
        # interleaving leaves a loop running or this server online after
        # shutdown() has returned.
        self._lock = threading.RLock()
        self._state = "new"  # new -> running -> stopped
        self._election: LeaderElection | None = None
        Member._instances.add(self)

    @classmethod
    def instances(cls) -> list[Member]:
        """Every member in this process (for the gunicorn hooks)."""
        return list(cls._instances)

    @property
    def running(self) -> bool:
        return self._state == "running"

    def autostart(self) -> None:
        """The ``before_request`` hook: start on the first request, unless testing."""
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
        return self._loop.running

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

    def spread(self) -> None:
        """Tell a peer about a drain or return at once, from whichever
        process handled it."""
        if self._loop.running:
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



def _shutdown_at_exit(member: Member) -> None:
    """Shut ``member`` down when the interpreter exits, without keeping it alive.

    Python shuts down ``concurrent.futures`` pools (APScheduler's executor)
    before it runs ``atexit`` hooks, so a loop still running then prints
    "cannot schedule new futures after shutdown". Hooks registered with
    ``threading._register_atexit`` run before that, newest first.
    """
    ref = weakref.ref(member)

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
