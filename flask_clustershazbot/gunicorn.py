"""Gunicorn server hooks. Add one line to your gunicorn config file::

    from flask_clustershazbot.gunicorn import *  # noqa: F403

* ``on_starting`` (master): marks the hooks as installed for the workers,
  and makes the master's ``SIGTERM`` honour SHAZBOT_LAME_DUCK: when it is
  above 0, the first ``SIGTERM`` takes the server offline (a drain, spread at
  once; every worker's ``/health`` answers 503) while the listeners stay open
  and the workers keep serving; gunicorn's normal graceful stop begins that
  many seconds later (less if the server was drained already: what is left
  of the lame duck since the drain). A second ``SIGTERM`` meanwhile stops at
  once, and ``SIGINT``/``SIGQUIT`` stay immediate. Without ``--preload`` the
  first ``SIGTERM`` loads the app in the master to read its configuration;
  a worker forked during the lame duck (``max_requests``, a crash) then
  starts from that loaded app, as with ``--preload``. The drain is done and
  spread in the arbiter's own thread, which then closes its connections, so
  such a fork inherits no lock held and no open connection.
* ``post_worker_init`` (each worker, after the app is loaded): starts the
  extension, so every worker joins the leader election at once instead of on
  its first request. No lock is taken before fork.
* ``on_exit`` (master, after every worker has stopped): says goodbye for the
  whole server once, and writes the master list when configured. Without
  ``--preload`` this loads the app in the master to read its configuration.
  A new master of an aborted ``USR2`` upgrade says nothing: the old master
  still serves, and the run is handed back to it.

If you define one of these hooks yourself, call ours from yours, e.g.
``from flask_clustershazbot import gunicorn as shazbot_hooks`` and
``shazbot_hooks.on_exit(server)`` inside your ``on_exit``.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

from .member import Member
from .state.server import mark_gunicorn_hooks_installed

__all__ = ["on_starting", "post_worker_init", "on_exit"]


def on_starting(server: Any) -> None:
    """Master: mark the hooks installed, for the workers to see, and give
    ``SIGTERM`` its lame duck (SHAZBOT_LAME_DUCK)."""
    mark_gunicorn_hooks_installed()
    _LameDuck(server).install()


class _LameDuck:
    """The master's ``SIGTERM`` handling with a lame duck first.

    Gunicorn's arbiter handles a queued signal by calling its ``handle_term``
    method, which stops at once: listeners closed, workers told to finish. A
    load balancer still sending new connections there gets refusals until
    its health checks fail. This takes the server offline first and lets the
    arbiter loop run on (reaping and replacing workers); a timer sends the
    master ``SIGTERM`` again when the time is up, and that one stops.

    ``handle_term`` runs in the arbiter's loop (not in the signal handler),
    the thread that forks workers: the drain and its spread run there, one
    exchange within SHAZBOT_REQUEST_TIMEOUT, so no thread of ours holds a
    lock when a worker is forked. The timer thread only waits and signals.
    """

    def __init__(self, server: Any) -> None:
        self.server = server
        self.stop_now = server.handle_term
        self.state = "serving"  # serving -> lame duck -> over

    def install(self) -> None:
        self.server.handle_term = self.handle_term

    def handle_term(self) -> None:
        if self.state == "serving":
            self.state = "lame duck"
            seconds = self._begin()
            if seconds > 0:
                self.server.log.info(
                    "flask_clustershazbot lame duck: offline, serving for %gs before stopping", seconds
                )
                timer = threading.Timer(seconds, self._end)
                timer.daemon = True
                timer.start()
                return
        elif self.state == "lame duck":
            self.server.log.info("flask_clustershazbot: second SIGTERM during the lame duck, stopping now")
        self.state = "over"
        self.stop_now()

    def _begin(self) -> float:
        """Take the server offline; the seconds to keep serving (0: none)."""
        if _upgrade_aborted(self.server):
            return 0.0  # the old master keeps serving this server
        try:
            return max((member.begin_lame_duck() for member in _members(self.server)), default=0.0)
        except Exception:
            # Never in the way of a stop: without the lame duck it stops as before.
            self.server.log.exception("flask_clustershazbot: the lame duck failed; stopping now")
            return 0.0

    def _end(self) -> None:
        if self.state == "lame duck":
            self.state = "over"
            # Through the arbiter's own signal queue, which wakes its loop.
            os.kill(os.getpid(), signal.SIGTERM)


def _upgrade_aborted(server: Any) -> bool:
    """Whether this is the new master of a ``USR2`` upgrade whose old master
    (its parent) still serves."""
    # During a USR2 upgrade the new master's arbiter knows the old master's
    # pid; if the new master exits while the old one (its parent) still
    # serves, the upgrade was aborted and the server has not stopped.
    old_master = int(getattr(server, "master_pid", 0) or 0)
    return old_master != 0 and old_master == os.getppid()


def _members(server: Any) -> list[Member]:
    """The members of this master's app, loading it if not preloaded."""
    if not Member.instances():
        server.app.wsgi()  # not preloaded: load the app to learn its configuration
    return Member.instances()


def post_worker_init(worker: Any) -> None:
    """Each worker: start every autostarting member now."""
    for member in Member.instances():
        if member.config.autostart:
            member.start()


def on_exit(server: Any) -> None:
    """Master, after all workers stop: say goodbye for the server once (or hand
    the run back after an aborted USR2 upgrade)."""
    upgrade_aborted = _upgrade_aborted(server)
    try:
        members = _members(server)
    except Exception:  # an app that cannot load (its workers never booted either)
        server.log.exception("flask_clustershazbot: could not load the app to say goodbye")
        return
    for member in members:
        try:
            if upgrade_aborted:
                member.hand_back_run(int(server.master_pid))
            else:
                member.leave_server()
        except Exception:
            server.log.exception("flask_clustershazbot: saying goodbye failed")
