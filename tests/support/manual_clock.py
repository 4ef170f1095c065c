"""A wall clock and a monotonic clock that move only when a test says so."""

from __future__ import annotations

import threading

__all__ = ["ManualClock"]

#: 2027-01-15, a plausible "now" in epoch milliseconds.
EPOCH_MS = 1_800_000_000_000


class ManualClock:
    """Pass ``wall_ms=clock.wall_ms, monotonic=clock.monotonic`` to a node."""

    def __init__(self, wall_ms: int = EPOCH_MS, monotonic: float = 1000.0) -> None:
        self._wall_ms = wall_ms
        self._mono = monotonic
        self._lock = threading.Lock()

    def wall_ms(self) -> int:
        with self._lock:
            return self._wall_ms

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def advance(self, seconds: float) -> None:
        """Both clocks move forward by ``seconds``."""
        with self._lock:
            self._wall_ms += int(seconds * 1000)
            self._mono += seconds
