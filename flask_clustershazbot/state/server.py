"""One server, one or several processes: the one interface the member uses
for everything that depends on how many processes serve the server.

A :class:`ProcessGroup` chooses the state store (memory, or a SQLite file the
processes share), says which run of the server a process belongs to, picks
the one process that runs the gossip loop, and knows who says goodbye:

* :class:`SingleProcess`: the view in memory; this process is the server, so
  it starts a new run, leads at once and says goodbye when it shuts down.
* :class:`SharedProcesses` (under gunicorn, or with SHAZBOT_STATE_PATH): the
  view in a SQLite file (:mod:`.sqlite`); a gunicorn worker joins the run of
  its master (:mod:`.process`); the holder of a lock file runs the loop
  (:mod:`.election`), and leadership moves when it dies; the gunicorn master
  says goodbye for the whole server once its workers are gone.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Protocol

from ..errors import StoreBusy
from ..protocol.membership import Membership
from .base import MemoryStore, StateStore, StoreOpener
from .election import LeaderElection
from .identity import ClusterIdentity
from .process import HOOKS_ENV, gunicorn_hooks_installed, run_id, under_gunicorn
from .sqlite import SqliteStore, default_state_path

__all__ = ["ProcessGroup", "SingleProcess", "SharedProcesses", "process_group", "store_at",
           "mark_gunicorn_hooks_installed"]

log = logging.getLogger("flask_clustershazbot")

#: Longest wait between two tries to join the run while the state is busy.
_JOIN_RETRY_LIMIT = 10.0


class ProcessGroup(Protocol):
    """The processes serving one server, seen from one of them."""

    #: Whether several processes may share this server's state.
    shared: bool

    def open_store(self, new_membership: Callable[[], Membership]) -> StateStore:
        """The server's state store (``new_membership`` makes a fresh view)."""
        ...

    def join_run(self, begin_run: Callable[[], None]) -> None:
        """Join this server's run, calling ``begin_run`` (online with a new
        version) if this process starts a new one. Never fails over a busy
        store: it then joins in the background, as soon as it can."""
        ...

    def elect(self, on_elected: Callable[[], None]) -> None:
        """Call ``on_elected`` once this process is the one that runs the
        gossip loop (at once, or in another thread when elected later)."""
        ...

    def release(self) -> None:
        """Stop taking part: give up the lead or the wait for it, for good."""
        ...

    @property
    def goodbye_on_shutdown(self) -> bool:
        """Whether this process says goodbye for the server when it shuts down
        (not a gunicorn worker: the master does, once)."""
        ...

    def owns_run(self) -> bool:
        """Whether the run under way is this process's (a gunicorn master's)."""
        ...

    def hand_back_run(self, pid: int) -> None:
        """Make the run under way process ``pid``'s, if it was this one's."""
        ...


class SingleProcess:
    """A server served by this process alone; its state in memory."""

    shared = False

    def open_store(self, new_membership: Callable[[], Membership]) -> StateStore:
        """A new in-memory store."""
        return MemoryStore(new_membership())

    def join_run(self, begin_run: Callable[[], None]) -> None:
        """Every start is a new run."""
        begin_run()

    def elect(self, on_elected: Callable[[], None]) -> None:
        """The only process leads, at once."""
        on_elected()

    def release(self) -> None:
        """Nothing to give up."""

    @property
    def goodbye_on_shutdown(self) -> bool:
        """Always: this process is the server."""
        return True

    def owns_run(self) -> bool:
        """No master runs on its behalf."""
        return False

    def hand_back_run(self, pid: int) -> None:
        """Nothing to hand back."""


class SharedProcesses:
    """A server whose processes (gunicorn workers) share a SQLite state file
    at ``state_path``, and a leader lock beside it. With ``cluster``, a view
    saved there by another cluster is not restored (:mod:`.identity`)."""

    shared = True

    def __init__(self, state_path: str, cluster: ClusterIdentity | None = None) -> None:
        self.state_path = state_path
        self.cluster = cluster
        #: The lock whose holder runs the gossip loop.
        self.lock_path = state_path + ".lock"
        self._store: SqliteStore | None = None
        self._election: LeaderElection | None = None
        # Serialises joining the run with release(): no join after it.
        self._lock = threading.Lock()
        self._released = False

    @property
    def store(self) -> SqliteStore:
        """The shared store, once :meth:`open_store` made it."""
        if self._store is None:
            raise RuntimeError("open_store() has not been called")
        return self._store

    def open_store(self, new_membership: Callable[[], Membership]) -> StateStore:
        """The store in the shared file (opened lazily, in each process)."""
        self._store = SqliteStore(self.state_path, new_membership, cluster=self.cluster)
        return self._store

    def join_run(self, begin_run: Callable[[], None]) -> None:
        """Claim the run (a new one unless a gunicorn worker joins its
        master's); in the background if another process holds the state
        locked (stopped mid-write): a gunicorn worker's boot never fails
        over it."""
        try:
            self._join(begin_run)
        except StoreBusy:
            log.warning("shared state busy at start; joining the run in the background")
            threading.Thread(target=self._join_later, args=(begin_run,), name="shazbot-join", daemon=True).start()
        if under_gunicorn() and not gunicorn_hooks_installed():
            log.warning(
                "running under gunicorn without the flask_clustershazbot.gunicorn hooks: "
                "this server will not say goodbye when it stops; see README 'Deploying with gunicorn'"
            )

    def _join(self, begin_run: Callable[[], None]) -> None:
        serving_pid = os.getppid() if under_gunicorn() else os.getpid()
        # Only a gunicorn worker can join a run already under way (its
        # server's); any other start, even in the same process, is new.
        if self.store.claim_instance(run_id(serving_pid)) or not under_gunicorn():
            begin_run()

    def _join_later(self, begin_run: Callable[[], None]) -> None:
        delay = 0.5
        while True:
            with self._lock:
                if self._released:
                    return
                try:
                    self._join(begin_run)
                    return
                except StoreBusy:
                    pass
            time.sleep(delay)
            delay = min(delay * 2, _JOIN_RETRY_LIMIT)

    def elect(self, on_elected: Callable[[], None]) -> None:
        """Wait for the leader lock in a daemon thread; ``on_elected`` runs there."""
        self._election = LeaderElection(self.lock_path, on_elected)
        self._election.start()

    def release(self) -> None:
        """Give up the lead (another process takes it at once) or the wait for it."""
        with self._lock:
            self._released = True
        if self._election is not None:
            self._election.release()

    @property
    def goodbye_on_shutdown(self) -> bool:
        """Only outside gunicorn: a worker that exits says nothing."""
        return not under_gunicorn()

    def owns_run(self) -> bool:
        """Whether the stored run is this process's."""
        return self.store.get_meta("instance") == run_id(os.getpid())

    def hand_back_run(self, pid: int) -> None:
        """Make the run ``pid``'s, if it was this process's."""
        if self.owns_run():
            self.store.set_meta("instance", run_id(pid))


def process_group(state_path: str | None, base_url: str, cluster: ClusterIdentity | None = None) -> ProcessGroup:
    """How the server at ``base_url`` is served: by processes sharing
    ``state_path`` (SHAZBOT_STATE_PATH, or a private default under gunicorn),
    else by this process alone. A shared view saved by a server of another
    ``cluster`` is not restored."""
    path = state_path or (default_state_path(base_url) if under_gunicorn() else None)
    return SharedProcesses(path, cluster) if path else SingleProcess()


def mark_gunicorn_hooks_installed() -> None:
    """In the gunicorn master: tell every worker the hooks are installed."""
    os.environ[HOOKS_ENV] = "1"


def store_at(state_path: str | None, cluster: ClusterIdentity | None = None) -> StoreOpener:
    """Opens the store at ``state_path`` (shared; emptied if another
    ``cluster`` saved it), or in memory without one."""
    return SharedProcesses(state_path, cluster).open_store if state_path else SingleProcess().open_store
