"""An in-memory master list: a ``MasterListStore`` for tests without files or
servers. ``failing`` makes every read and write fail as a store would."""

from __future__ import annotations

from collections.abc import Iterable

from flask_clustershazbot.errors import MasterListError
from flask_clustershazbot.masterlist.core import MergeFn
from flask_clustershazbot.protocol.model import ServerEntry

__all__ = ["MemoryMasterList"]


class MemoryMasterList:
    """The stored list is :attr:`entries`; ``update`` is read-merge-write."""

    def __init__(self, entries: Iterable[ServerEntry] = ()) -> None:
        self.entries: list[ServerEntry] = list(entries)
        #: When set, every read and write raises it.
        self.failing: MasterListError | None = None
        self.reads = 0
        self.writes = 0

    def read(self) -> list[ServerEntry]:
        if self.failing is not None:
            raise self.failing
        self.reads += 1
        return list(self.entries)

    def update(self, merge: MergeFn) -> None:
        if self.failing is not None:
            raise self.failing
        self.entries = list(merge(list(self.entries)))
        self.writes += 1

    def entry(self, base_url: str) -> ServerEntry | None:
        """The stored entry of ``base_url``, if any."""
        return next((e for e in self.entries if e.base_url == base_url), None)
