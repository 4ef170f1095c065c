"""A cache of ``str -> str`` bounded by the bytes it holds.

``functools.lru_cache`` bounds the number of entries only, and a base URL may
be 2 KB long, so 65,536 entries could hold hundreds of MiB per process. This
cache counts what it keeps (key and value, as Python stores them) and evicts
the oldest entries above ``max_bytes``. Oldest-first rather than
least-recently-used keeps a hit to one lock-free dict lookup (a hit is on
every entry of every message); a hot entry that is evicted comes back at the
next miss.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import NamedTuple

__all__ = ["CacheInfo", "BoundedStrCache", "bounded_str_cache"]

#: What one entry costs besides its two strings (the ordered dict's slot), roughly.
_ENTRY_OVERHEAD = 100


class CacheInfo(NamedTuple):
    """Like ``functools.lru_cache``'s ``cache_info()``, plus the bytes held."""

    hits: int
    misses: int
    currsize: int
    bytes: int
    max_bytes: int


class BoundedStrCache:
    """Wraps ``func`` (``str -> str``): results are cached up to ``max_bytes``.

    Exceptions are not cached. Thread-safe: writers take a lock, readers need none.
    """

    def __init__(self, func: Callable[[str], str], max_bytes: int) -> None:
        self._func = func
        self.max_bytes = max_bytes
        self._data: dict[str, str] = {}
        self._bytes = 0
        self._hits = 0
        self._misses = 0
        self._lock = threading.Lock()
        self.__doc__ = func.__doc__
        self.__name__ = func.__name__
        self.__wrapped__ = func

    @staticmethod
    def _cost(key: str, value: str) -> int:
        # The same object costs once (a canonical URL often maps to itself).
        return sys.getsizeof(key) + (0 if value is key else sys.getsizeof(value)) + _ENTRY_OVERHEAD

    def __call__(self, key: str) -> str:
        value = self._data.get(key)  # atomic under the GIL: no lock on a hit
        if value is not None:
            self._hits += 1  # statistics only: a lost increment does not matter
            return value
        self._misses += 1
        value = self._func(key)  # outside the lock: it may raise, and it may be slow
        cost = self._cost(key, value)
        if cost > self.max_bytes:
            return value
        with self._lock:
            if key not in self._data:
                self._data[key] = value
                self._bytes += cost
                while self._bytes > self.max_bytes:
                    old_key = next(iter(self._data))  # insertion order: the oldest
                    self._bytes -= self._cost(old_key, self._data.pop(old_key))
        return value

    def cache_info(self) -> CacheInfo:
        """Hits, misses, entries and bytes held, and the byte bound."""
        with self._lock:
            return CacheInfo(self._hits, self._misses, len(self._data), self._bytes, self.max_bytes)

    def cache_clear(self) -> None:
        """Forget every entry (and the statistics)."""
        with self._lock:
            self._data.clear()
            self._bytes = self._hits = self._misses = 0


def bounded_str_cache(max_bytes: int) -> Callable[[Callable[[str], str]], BoundedStrCache]:
    """Decorator form of :class:`BoundedStrCache`."""

    def wrap(func: Callable[[str], str]) -> BoundedStrCache:
        return BoundedStrCache(func, max_bytes)

    return wrap
