"""The data the protocol is about: one server's entry in a view."""

from __future__ import annotations

from typing import Any, NamedTuple

from .metadata import NO_META, Meta

__all__ = ["ServerEntry", "entry_key", "entries_to_wire", "ServerList"]

#: Wire form of a server list: ``{"online": [...], "offline": [...]}``.
ServerList = dict[str, list[dict[str, Any]]]


class ServerEntry(NamedTuple):
    """What one server is known to be (immutable; a tuple, because views hold
    thousands and every exchange builds and compares them).

    ``last_update`` is milliseconds since the epoch, set only by the server
    itself (heartbeat, drain, return, shutdown) or by a failure detector
    (``last value + 1``): it is both a heartbeat and a version.

    ``meta`` is the server's metadata (docs/protocol.md section 8.5), set by
    the server itself like everything else in its entry; empty for most.
    """

    base_url: str
    monitor: bool
    last_update: int
    online: bool
    meta: Meta = NO_META

    def to_wire(self) -> dict[str, Any]:
        """The entry as on the wire (docs/protocol.md section 1), without ``online``:
        the list it is in says that. ``meta`` only when there is some."""
        wire: dict[str, Any] = {"baseUrl": self.base_url, "monitor": self.monitor, "lastUpdate": self.last_update}
        if self.meta:
            wire["meta"] = dict(self.meta)
        return wire

    @property
    def metadata(self) -> dict[str, str]:
        """The server's metadata as a new dict (empty when it has none)."""
        return dict(self.meta)


def entry_key(entry: ServerEntry) -> tuple[int, bool, bool, Meta]:
    """The order merge uses: newer wins; on equal time offline wins.

    ``monitor`` then ``meta`` break the last ties, so that the order is total
    and merge stays a join even for entries that differ only there. Any
    metadata sorts above none: a copy relayed by a peer that drops the
    unknown ``meta`` key never erases the metadata held at the same version
    (docs/protocol.md section 8.5).
    """
    return (entry.last_update, not entry.online, entry.monitor, entry.meta)


def entries_to_wire(entries: list[ServerEntry]) -> ServerList:
    """Split entries into the sorted ``online``/``offline`` lists of the wire."""
    ordered = sorted(entries)  # tuples sort by base URL first
    return {
        "online": [e.to_wire() for e in ordered if e.online],
        "offline": [e.to_wire() for e in ordered if not e.online],
    }
