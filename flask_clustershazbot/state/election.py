"""Which process of a server runs the gossip loop: the holder of an exclusive
``flock`` on a lock file beside the state store.

The kernel releases the lock when its holder dies, however it dies, and wakes
the next waiter at once, so a killed or recycled leader is replaced within
moments. The lock is only taken after fork (in :meth:`LeaderElection.start`).
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Callable

__all__ = ["LeaderElection"]

log = logging.getLogger("flask_clustershazbot")


class LeaderElection:
    def __init__(self, lock_path: str, on_elected: Callable[[], None]) -> None:
        self.lock_path = lock_path
        self._on_elected = on_elected
        self._fd: int | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._released = False

    def start(self) -> None:
        """Wait for the lock in a daemon thread; call ``on_elected`` once held."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._wait_for_lock, name="shazbot-election", daemon=True)
            self._thread.start()

    def _wait_for_lock(self) -> None:
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # blocks, without the GIL, until the leader is gone
        except OSError:
            os.close(fd)
            log.exception("leader election failed")
            return
        with self._lock:
            if self._released:
                # release() ran while we waited: give the lock straight back,
                # or a later member of this process would wait for ever.
                os.close(fd)
                return
            self._fd = fd
        log.info("process %d runs the gossip loop of this server", os.getpid())
        try:
            self._on_elected()
        except Exception:
            log.exception("starting the gossip loop failed")

    def release(self) -> None:
        """Give up the lock (or the wait for it) for good."""
        with self._lock:
            self._released = True
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing releases the lock
