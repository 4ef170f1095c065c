"""Total deadlines for outgoing HTTP calls.

requests' timeouts bound each socket operation, not the call: a peer that
answers one byte every half second keeps a call alive for ever. Here a call
runs inside :func:`deadline`; the sockets it uses (through a session from
:func:`deadline_session`) are registered with it, and one watchdog thread shuts
them down when the deadline passes, which ends whatever read or write is
blocked on them. The call then fails like a dropped connection, and
:attr:`Deadline.expired` tells why.

Deadlines nest: an inner one never outlives the one around it, so a budget
such as the goodbye's bounds every call made within it.

Name resolution (``getaddrinfo``) cannot be interrupted this way; it is
bounded by the resolver's own timeouts.
"""

from __future__ import annotations

import contextlib
import heapq
import http.cookiejar
import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import ProxyManager

__all__ = ["Deadline", "deadline", "deadline_session", "current_deadline"]


class Deadline:
    """One call's deadline on the monotonic clock."""

    def __init__(self, at: float) -> None:
        self.at = at
        #: True once the watchdog has cut this call's sockets.
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._done = False

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(self.at - time.monotonic(), 0.0)


def _cut(sock: socket.socket) -> None:
    # socket.socket.shutdown, not SSLSocket.shutdown: the latter unwraps TLS
    # state that a reader blocked in another thread is still using.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


_START_LOCK = threading.Lock()


def _after_fork_in_child() -> None:
    # A lock held by another thread at fork() stays held in the child.
    global _START_LOCK
    _START_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


class _Watchdog:
    """One daemon thread per process that cuts the sockets of expired calls."""

    def __init__(self) -> None:
        self._pid = -1
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._heap: list[tuple[float, int, Deadline]] = []
        self._seq = itertools.count()

    def _ensure_thread(self) -> None:
        # A forked child (gunicorn worker) inherits the object but not the thread.
        if self._pid == os.getpid():
            return
        with _START_LOCK:
            if self._pid == os.getpid():
                return
            self._lock = threading.Lock()
            self._wake = threading.Condition(self._lock)
            self._heap = []
            try:
                threading.Thread(target=self._run, name="shazbot-deadlines", daemon=True).start()
            except RuntimeError:  # at interpreter exit (Python 3.12): per-read timeouts only
                return
            self._pid = os.getpid()

    def arm(self, call: Deadline) -> None:
        self._ensure_thread()
        if self._pid != os.getpid():
            return
        with self._lock:
            heapq.heappush(self._heap, (call.at, next(self._seq), call))
            if self._heap[0][2] is call:
                self._wake.notify()

    def disarm(self, call: Deadline) -> None:
        with self._lock:
            call._done = True
            call._sockets.clear()
            # Finished calls leave the heap when their time comes, or now if
            # they are first, so the heap holds at most the calls of the last
            # few timeouts.
            while self._heap and self._heap[0][2]._done:
                heapq.heappop(self._heap)

    def release(self, call: Deadline, sock: socket.socket) -> bool:
        """Take ``sock`` back from ``call`` (its connection returns to the
        pool for another call); False if the deadline has cut it already."""
        with self._lock:
            with contextlib.suppress(ValueError):
                call._sockets.remove(sock)
            return not call.expired

    def register(self, call: Deadline, sock: socket.socket) -> None:
        with self._lock:
            if call._done:
                return
            if call.expired:
                _cut(sock)
                return
            call._sockets.append(sock)

    def _run(self) -> None:
        lock, wake, heap = self._lock, self._wake, self._heap
        with lock:
            while True:
                now = time.monotonic()
                while heap and (heap[0][2]._done or heap[0][0] <= now):
                    _, _, call = heapq.heappop(heap)
                    if not call._done:
                        call.expired = True
                        for sock in call._sockets:
                            _cut(sock)
                # Clamped: a huge timeout must not overflow the wait and end
                # this thread.
                wait = min(heap[0][0] - now, threading.TIMEOUT_MAX) if heap else None
                wake.wait(timeout=wait)


_watchdog = _Watchdog()


class _RedactQueries(logging.Filter):
    """urllib3 logs each request line at DEBUG, query included; a pre-signed
    store URL's query is a credential, so it never reaches a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, str) and "?" in a for a in record.args):
            record.args = tuple(
                a.split("?", 1)[0] + "?<redacted>" if isinstance(a, str) and "?" in a else a for a in record.args
            )
        return True


logging.getLogger("urllib3.connectionpool").addFilter(_RedactQueries())
_local = threading.local()


def current_deadline() -> Deadline | None:
    """The innermost deadline of this thread, if any."""
    stack: list[Deadline] | None = getattr(_local, "stack", None)
    return stack[-1] if stack else None


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[Deadline]:
    """Run the block's HTTP calls (made with a :func:`deadline_session`)
    within ``seconds`` in all, and within any enclosing deadline."""
    at = time.monotonic() + max(seconds, 0.0)
    outer = current_deadline()
    if outer is not None:
        at = min(at, outer.at)
    call = Deadline(at)
    stack: list[Deadline] = getattr(_local, "stack", None) or []
    _local.stack = stack
    stack.append(call)
    _watchdog.arm(call)
    try:
        yield call
    finally:
        _watchdog.disarm(call)
        stack.pop()


def _raw_socket(sock: Any) -> socket.socket | None:
    # TLS through an HTTPS proxy wraps the socket in urllib3's SSLTransport.
    sock = getattr(sock, "socket", sock)
    return sock if isinstance(sock, socket.socket) else None


def _register(sock: Any) -> None:
    call, raw = current_deadline(), _raw_socket(sock)
    if call is not None and raw is not None:
        _watchdog.register(call, raw)


def _reusable(conn: Any) -> bool:
    """Called as a connection goes back to the pool: it stops belonging to
    this call's deadline. False if the deadline may have cut it already."""
    call, raw = current_deadline(), _raw_socket(getattr(conn, "sock", None))
    if call is None or raw is None:
        return True
    return _watchdog.release(call, raw)


class _DeadlineMixin:
    """Registers the connection's socket with the current deadline whenever
    it is set (connect, TLS wrap) or reused for a new request."""

    @property
    def sock(self) -> Any:
        return self.__dict__.get("sock")

    @sock.setter
    def sock(self, value: Any) -> None:
        self.__dict__["sock"] = value
        if value is not None:
            _register(value)

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:  # a kept-alive connection
            _register(self.sock)
        super().request(*args, **kwargs)  # type: ignore[misc]


class _DeadlineHTTPConnection(_DeadlineMixin, HTTPConnection):
    pass


class _DeadlineHTTPSConnection(_DeadlineMixin, HTTPSConnection):
    pass


class _DeadlinePoolMixin:
    def _put_conn(self, conn: Any) -> None:
        # Unregister before another thread can take the connection, or this
        # call's deadline could cut that thread's request.
        if conn is not None and not _reusable(conn):
            conn.close()
        super()._put_conn(conn)  # type: ignore[misc]


class _DeadlineHTTPConnectionPool(_DeadlinePoolMixin, HTTPConnectionPool):
    ConnectionCls = _DeadlineHTTPConnection


class _DeadlineHTTPSConnectionPool(_DeadlinePoolMixin, HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


_POOLS = {"http": _DeadlineHTTPConnectionPool, "https": _DeadlineHTTPSConnectionPool}


class _DeadlineAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        # HTTP(S) proxies only: a SOCKS manager needs its own connection
        # classes (its calls keep per-read timeouts only).
        if type(manager) is ProxyManager:
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


def _no_auth(request: Any) -> Any:
    return request


def deadline_session() -> requests.Session:
    """A requests session whose calls obey :func:`deadline`."""
    session = requests.Session()
    # Peers' answers are not authenticated: keep none of their cookies (and
    # send none to other hosts); and never replace our Authorization header
    # with credentials from ~/.netrc.
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    session.auth = _no_auth
    adapter = _DeadlineAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
