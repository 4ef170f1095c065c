"""Where a server keeps its membership state and its counters.

The protocol code never holds state across a call: every operation runs inside
``store.transaction()``, which hands it the :class:`Membership` under a lock.
One process keeps it in memory; several processes serving one server need a
store they share (see :mod:`flask_clustershazbot.state.sqlite`), and nothing
else changes. Each store also keeps the server's counters (:class:`Stats`),
so the metrics add up over every process that shares the view.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Protocol

from ..protocol.membership import Membership

__all__ = ["StateStore", "Stats", "MemoryStats", "MemoryStore", "StoreOpener", "Totals"]

#: Counts and latest times (epoch seconds), by name: ``(counts, marks)``.
Totals = tuple[dict[str, int], dict[str, float]]


class Stats(Protocol):
    """A server's counters: how often something happened, and when last."""

    def count(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to the counter ``name``."""
        ...

    def mark(self, name: str, when: float) -> None:
        """Record that ``name`` happened at ``when`` (epoch seconds)."""
        ...

    def local(self) -> Totals:
        """This process's counts and latest times (since it started)."""
        ...

    def totals(self) -> Totals:
        """The whole server's counts and latest times, every process added up."""
        ...


class StateStore(Protocol):
    """A server's membership view and counters, shared by every process that
    serves it (one, or several)."""

    @property
    def stats(self) -> Stats:
        """The server's counters."""
        ...

    def transaction(self) -> contextlib.AbstractContextManager[Membership]:
        """Exclusive access to the membership; changes persist on exit."""
        ...

    def flush_pending(self) -> None:
        """Make what this process counted visible to the others now, instead
        of with its next change to the view."""
        ...

    def close(self) -> None:
        """Let go of what the store holds (connections, files)."""
        ...


#: Opens a store, given how to make a fresh membership (for a new state).
StoreOpener = Callable[[Callable[[], Membership]], StateStore]


class MemoryStats:
    """Counters kept in this process's memory; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._marks: dict[str, float] = {}

    def count(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to the counter ``name``."""
        with self._lock:
            self._counts[name] += amount

    def mark(self, name: str, when: float) -> None:
        """Record that ``name`` happened at ``when`` (epoch seconds)."""
        with self._lock:
            self._marks[name] = when

    def local(self) -> Totals:
        """This process's counts and latest times."""
        with self._lock:
            return dict(self._counts), dict(self._marks)

    def totals(self) -> Totals:
        """The whole server's: one process, so this process's."""
        return self.local()


class MemoryStore:
    """The state of a server served by one process."""

    def __init__(self, membership: Membership) -> None:
        self._membership = membership
        self._lock = threading.RLock()
        self._stats = MemoryStats()

    @property
    def stats(self) -> MemoryStats:
        """The server's counters, in memory."""
        return self._stats

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Membership]:
        """The membership under this process's lock."""
        with self._lock:
            yield self._membership

    def flush_pending(self) -> None:
        """Nothing to do: no other process reads these counters."""

    def close(self) -> None:
        """Nothing to let go of."""
