"""Gunicorn server hooks. Add one line to your gunicorn config file::

    from flask_clustershazbot.gunicorn import *  # noqa: F403

* ``on_starting`` (master): marks the hooks as installed for the workers.
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
from typing import Any

from .member import Member
from .state.server import mark_gunicorn_hooks_installed

__all__ = ["on_starting", "post_worker_init", "on_exit"]


def on_starting(server: Any) -> None:
    """Master: mark the hooks installed, for the workers to see."""
    mark_gunicorn_hooks_installed()


def post_worker_init(worker: Any) -> None:
    """Each worker: start every autostarting member now."""
    for member in Member.instances():
        if member.config.autostart:
            member.start()


def on_exit(server: Any) -> None:
    """Master, after all workers stop: say goodbye for the server once (or hand
    the run back after an aborted USR2 upgrade)."""
    # During a USR2 upgrade the new master's arbiter knows the old master's
    # pid; if the new master exits while the old one (its parent) still
    # serves, the upgrade was aborted and the server has not stopped.
    old_master = int(getattr(server, "master_pid", 0) or 0)
    upgrade_aborted = old_master != 0 and old_master == os.getppid()
    if not Member.instances():
        server.app.wsgi()  # not preloaded: load the app to learn its configuration
    for member in Member.instances():
        try:
            if upgrade_aborted:
                member.hand_back_run(old_master)
            else:
                member.leave_server()
        except Exception:
            server.log.exception("flask_clustershazbot: saying goodbye failed")
