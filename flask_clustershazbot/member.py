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
import logging
import threading
import weakref
from collections.abc import Callable
from functools import partial
from typing import ClassVar

from flask import Flask, current_app

from .config import ShazbotConfig
from .errors import StoreBusy
from .jobs import ClusterJobs, job_runner
from .loop import GossipLoop
from .node import ClusterNode
from .signal_dispatch import SignalDispatcher
from .state.base import StateStore
from .state.identity import ClusterIdentity
from .state.server import ProcessGroup, process_group
from .web.handlers import RequestHandlers

log = logging.getLogger("flask_clustershazbot")

__all__ = ["Member"]


class Member:
    """The cluster member of one Flask app (one server, one process of it)."""

    _instances: ClassVar[weakref.WeakSet[Member]] = weakref.WeakSet()

    def __init__(self, app: Flask, config: ShazbotConfig, cluster_jobs: ClusterJobs | None = None) -> None:
        """``cluster_jobs``: the extension's, scheduled while this process leads."""
        self.app = app
        self.config = config
        #: The processes serving this server: its store, run and leader. A
        #: view saved by another cluster's server is not restored.
        cluster = ClusterIdentity.of(config.master_list, config.secrets)
        self.processes: ProcessGroup = process_group(config.state_path, config.base_url, cluster)
        self.node = ClusterNode(config, open_store=self.processes.open_store)
        self.handlers = RequestHandlers(self.node, config, on_control=self.spread)
        self._signalled = SignalDispatcher(app)
        self._loop = GossipLoop(
            self.node,
            after_job=self._send_signals,
            cluster_jobs=cluster_jobs,
            job_runner=partial(job_runner, app=app, node=self.node),
        )
        # Serialises start, shutdown and taking the lead, so that no
        # interleaving leaves a loop running or this server online after
        # shutdown() has returned.
        self._lock = threading.RLock()
        self._state = "new"  # new -> running -> stopped
        # SHAZBOT_LAME_DUCK: set once shutdown() has gone offline to wait;
        # a second shutdown() sets the event to end the wait at once.
        self._lame_duck_begun = False
        self._lame_duck_over = threading.Event()
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
    def shared_store(self) -> StateStore | None:
        """The store shared by this server's processes, if it has several."""
        return self.node.store if self.processes.shared else None

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
        """Join the server's run (online with a new version if it is new),
        then run the loop here once this process is elected to."""
        self.processes.join_run(self.node.begin_run)
        self.processes.elect(self._lead)

    def _lead(self) -> None:
        with self._lock:
            if self._state != "running":
                return
            self._loop.start()

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

    def shutdown(self, *, lame_duck: bool = True) -> None:
        """Leave the cluster: announce offline to a few peers within
        SHAZBOT_SHUTDOWN_TIMEOUT, write the master list if configured, stop
        the loop. Idempotent; also runs at interpreter exit.

        With SHAZBOT_LAME_DUCK above 0 (and ``lame_duck`` true) it first goes
        offline (a drain, spread at once; /health answers 503) and blocks that
        many seconds while the app keeps serving, so load balancers take the
        server out before it stops. A second call meanwhile ends the wait at
        once. At interpreter exit there is no lame duck: nothing serves then.

        A server already drained waits only what is left of the lame duck
        since its drain (load balancers have been taking it out since then).

        In a gunicorn worker it only stops this process's part: the server
        keeps running, and the master says goodbye when the whole server stops
        (after its own lame duck: see :mod:`flask_clustershazbot.gunicorn`).

        A stop is never lost: if going offline or the goodbye fails (the
        shared state locked by another process, say), that is logged and the
        server stops all the same.
        """
        if lame_duck:
            self._serve_as_lame_duck()
        self._lame_duck_over.set()
        with self._lock:
            if self._state != "running":
                if self._state == "new":
                    # Never started, but requests may have opened connections.
                    self.node.close()
                self._state = "stopped"
                return
            self._state = "stopped"
            try:
                self._loop.stop()  # and its cluster jobs: none fires after the goodbye below
                # Undelivered signals are dropped; a receiver still running is not waited for long.
                self._signalled.close(timeout=min(0.1, self.config.shutdown_timeout))
                self.processes.release()
                if self.processes.goodbye_on_shutdown:
                    try:
                        self.node.leave(write_master_list=self.config.update_master_list_on_shutdown)
                    except Exception as exc:  # peers then notice by the failure timeout
                        _log_failure("could not say goodbye", exc)
            finally:
                self.node.close()

    def _serve_as_lame_duck(self) -> None:
        with self._lock:
            if self._lame_duck_begun:
                return  # a second call: the wait ends (shutdown() sets the event)
            if self._state != "running" or self.config.lame_duck <= 0 or not self.processes.goodbye_on_shutdown:
                return
            self._lame_duck_begun = True
            try:
                seconds = self._go_offline(self.spread)
            except Exception as exc:
                # Serve the lame duck all the same: a stop is never lost,
                # and a busy state answers /health with 503 meanwhile.
                _log_failure("lame duck: could not go offline", exc)
                seconds = self.config.lame_duck
        if seconds <= 0:
            return
        log.info("lame duck: offline, serving for %gs before stopping", seconds)
        # Outside the lock: requests and a second shutdown() go on meanwhile.
        self._lame_duck_over.wait(seconds)

    def _go_offline(self, spread: Callable[[], None]) -> float:
        """Drain this server (``spread`` tells a peer at once) and return how
        long its lame duck lasts: SHAZBOT_LAME_DUCK, or what is left of it
        since an earlier drain (0 once that has passed)."""
        lame_duck = self.config.lame_duck
        own = self.node.own_entry()
        if not own.online:
            # Drained already, at its last version (a later metadata change
            # only makes this longer; a clock stepped back counts as now).
            offline_for = (self.node.wall_ms() - own.last_update) / 1000
            return min(lame_duck, max(0.0, lame_duck - offline_for))
        if self.node.set_online(False):
            spread()
        return lame_duck

    def begin_lame_duck(self) -> float:
        """In the gunicorn master, asked to stop: take the whole server
        offline (a drain, spread at once; every worker's /health answers 503)
        and return how many seconds to keep serving before stopping
        (SHAZBOT_LAME_DUCK), or 0 to stop at once (no lame duck configured,
        or this run never started or is another master's). Less if the
        server was drained already: what is left of the lame duck since.

        It runs in the arbiter's thread and spreads there, one exchange
        (within SHAZBOT_REQUEST_TIMEOUT), then closes its connections: a
        worker forked during the lame duck inherits no thread, no lock held
        and no open socket or SQLite connection from it.
        """
        if self.config.lame_duck <= 0:
            return 0.0
        try:
            if not self.processes.owns_run():
                return 0.0
            return self._go_offline(self.node.spread)
        except Exception as exc:
            _log_failure("lame duck: could not go offline", exc)
            return self.config.lame_duck  # a stop is never lost: the timer still ends it
        finally:
            # Both reopen lazily, for the goodbye at exit (SqliteStore also
            # reopens in a new process: connections never cross a fork).
            self.node.transport.close()
            self.node.store.close()

    def leave_server(self) -> None:
        """Say goodbye for the whole server from the gunicorn master, once all
        its workers are gone; does nothing if this run never started."""
        if not self.processes.owns_run():
            return
        self.node.leave(write_master_list=self.config.update_master_list_on_shutdown)
        self.node.close()

    def hand_back_run(self, pid: int) -> None:
        """In the new master of an aborted gunicorn ``USR2`` upgrade: the old
        master ``pid`` keeps serving, so this run is its again (it says
        goodbye when it stops) and nothing is announced now."""
        self.processes.hand_back_run(pid)
        log.info("gunicorn upgrade aborted: the old master (pid %d) keeps serving this server", pid)



def _log_failure(what: str, exc: Exception) -> None:
    """Log a failed step of a stop, which goes on: StoreBusy (a state locked
    by another process) needs no traceback; anything else is a bug."""
    if isinstance(exc, StoreBusy):
        log.warning("%s: %s", what, exc)
    else:
        log.error("%s", what, exc_info=exc)


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
            alive.shutdown(lame_duck=False)

    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        try:
            register(stop)
            return
        except RuntimeError:  # already shutting down
            pass
    atexit.register(stop)
