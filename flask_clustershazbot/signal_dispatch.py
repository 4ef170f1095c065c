"""Delivering the membership signals off the gossip loop's critical path.

The gossip loop only *posts* the view it ends each job with: a single-slot
mailbox that keeps the latest view, O(1), never blocking. One daemon thread
per process takes the latest view, works out the transitions (and metadata
changes) since what it last delivered, and sends each signal, calling every
receiver on its own so that one that raises is logged (with its name) and the
others still run. A
transition counts as delivered once it has been sent: what a slow receiver
holds up is sent later, diffed against the then-latest view (so views posted
meanwhile coalesce), and never lost. See :mod:`flask_clustershazbot.signals`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from blinker import Signal
from flask import Flask

from . import signals
from .protocol.metadata import Meta
from .protocol.model import ServerEntry

__all__ = ["SignalDispatcher", "transitions", "meta_changes", "send_isolated"]

log = logging.getLogger("flask_clustershazbot")


def transitions(before: Mapping[str, bool], now: Mapping[str, bool]) -> tuple[list[str], list[str]]:
    """``(went_online, went_offline)``, each sorted, from base URL -> online.

    A server went online if it is online now and was not signalled online
    before (so the first view signals every online server once). It went
    offline if it was signalled online and is now offline or gone. A server
    never signalled online is never signalled offline.
    """
    went_online = sorted(url for url, online in now.items() if online and before.get(url) is not True)
    went_offline = sorted(url for url, online in before.items() if online and now.get(url) is not True)
    return went_online, went_offline


def meta_changes(before: Mapping[str, Meta], now: Mapping[str, ServerEntry], moved: Iterable[str]) -> list[str]:
    """The servers, sorted, whose metadata differs from what was delivered
    for them (``before``: base URL -> metadata), leaving out new servers and
    those in ``moved`` (the batch's transitions, which carry the entry)."""
    skip = set(moved)
    return sorted(
        url for url, entry in now.items() if url in before and url not in skip and before[url] != entry.meta
    )


def _receiver_name(receiver: Callable[..., Any]) -> str:
    name = getattr(receiver, "__qualname__", None) or getattr(receiver, "__name__", None) or repr(receiver)
    module = getattr(receiver, "__module__", None)
    return f"{module}.{name}" if module else str(name)


def send_isolated(signal: Signal, sender: Any, **kwargs: Any) -> None:
    """``signal.send(sender, **kwargs)``, except that a receiver that raises
    is logged and the other receivers are still called."""
    if signal.is_muted:
        return
    for receiver in list(signal.receivers_for(sender)):
        try:
            receiver(sender, **kwargs)
        except Exception:
            log.exception(
                "signal receiver %s raised on %s; the other receivers still run",
                _receiver_name(receiver),
                getattr(signal, "name", "a signal"),
            )


class SignalDispatcher:
    """Sends ``server_online``, ``server_offline``, ``server_changed`` and
    ``view_changed`` for one app, from a background thread of the process
    that posts views."""

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._cond = threading.Condition()
        self._latest: list[ServerEntry] | None = None  # the mailbox: newest view not yet taken
        self._closed = False
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        #: base URL -> online, as last *delivered* (not merely seen).
        self._delivered: dict[str, bool] = {}
        #: base URL -> metadata, for every server in the view last delivered.
        self._delivered_meta: dict[str, Meta] = {}

    def post(self, view: list[ServerEntry]) -> None:
        """Hand over the current view; returns at once. Only the latest view
        waits: a newer one replaces one not yet taken."""
        with self._cond:
            if self._closed:
                return
            self._latest = view
            # The thread starts with the first view, in the posting process:
            # init_app starts nothing, and a thread never survives a fork.
            if self._thread is None or self._pid != os.getpid():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="shazbot-signals", daemon=True)
                self._thread.start()
            self._cond.notify()

    def close(self, timeout: float) -> None:
        """Stop delivering: views not yet delivered are dropped. Waits at most
        ``timeout`` seconds for a receiver still running (the thread is a
        daemon and ends when that receiver returns)."""
        with self._cond:
            self._closed = True
            self._latest = None
            self._cond.notify()
            thread = self._thread if self._pid == os.getpid() else None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._latest is None and not self._closed:
                    self._cond.wait()
                view = self._latest
                if self._closed or view is None:
                    return
                self._latest = None
            try:
                self._deliver(view)
            except Exception:  # never let a bug end deliveries for good
                log.exception("could not deliver membership signals")

    def _deliver(self, view: list[ServerEntry]) -> None:
        entries = {e.base_url: e for e in view}
        went_online, went_offline = transitions(self._delivered, {url: e.online for url, e in entries.items()})
        changed = meta_changes(self._delivered_meta, entries, went_online + went_offline)
        if not (went_online or went_offline or changed):
            # Still the baseline for servers seen for the first time: a later
            # change of their metadata is a change.
            self._delivered_meta = {url: e.meta for url, e in entries.items()}
            return
        app = self._app
        with app.app_context():  # receivers may use current_app, as in a request
            for url in went_online:
                if self._closed:
                    return
                send_isolated(signals.server_online, app, base_url=url, entry=entries[url])
                self._delivered[url] = True
            for url in went_offline:
                if self._closed:
                    return
                send_isolated(signals.server_offline, app, base_url=url, entry=entries.get(url))
                if url in entries:
                    self._delivered[url] = False
                else:
                    del self._delivered[url]
            for url in changed:
                if self._closed:
                    return
                send_isolated(signals.server_changed, app, base_url=url, entry=entries[url])
                self._delivered_meta[url] = entries[url].meta
            if not self._closed:
                self._delivered_meta = {url: e.meta for url, e in entries.items()}
                send_isolated(
                    signals.view_changed, app, online=went_online, offline=went_offline, view=list(entries.values())
                )
