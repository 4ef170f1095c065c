"""Facts about the process we run in: gunicorn worker or master, and which
run of a server it belongs to."""

from __future__ import annotations

import os

__all__ = ["under_gunicorn", "gunicorn_hooks_installed", "run_id", "HOOKS_ENV"]

#: Set by the gunicorn hooks in the master, inherited by every worker.
HOOKS_ENV = "FLASK_CLUSTERSHAZBOT_GUNICORN_HOOKS"


def under_gunicorn() -> bool:
    # gunicorn's arbiter sets this in its own environment, which workers inherit.
    return os.environ.get("SERVER_SOFTWARE", "").startswith("gunicorn/")


def gunicorn_hooks_installed() -> bool:
    return os.environ.get(HOOKS_ENV) == "1"


def _start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            # Field 22 (start time) follows the parenthesised command name.
            return handle.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return "?"


def run_id(pid: int) -> str:
    """Names one run of a server: the serving process (the gunicorn master for
    its workers) by pid and start time, so a reused pid is a new run."""
    return f"{pid}@{_start_time(pid)}"
