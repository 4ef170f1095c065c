"""Where a server keeps its membership state.

The protocol code never holds state across a call: every operation runs inside
``store.transaction()``, which hands it the :class:`Membership` under a lock.
One process keeps it in memory; several processes serving one server need a
store they share (see ``SqliteStore``), and nothing else changes.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Protocol

from ..protocol.membership import Membership

__all__ = ["StateStore", "MemoryStore"]


class StateStore(Protocol):
    def transaction(self) -> contextlib.AbstractContextManager[Membership]:
        """Exclusive access to the membership; changes persist on exit."""
        ...

    def close(self) -> None: ...


class MemoryStore:
    """The state of a server served by one process."""

    def __init__(self, membership: Membership) -> None:
        self._membership = membership
        self._lock = threading.RLock()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Membership]:
        with self._lock:
            yield self._membership

    def close(self) -> None:
        pass
