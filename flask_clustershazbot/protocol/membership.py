"""One server's view of the cluster: merge, refutation, heartbeat, failure
detection and cleanup (docs/protocol.md sections 4 and 5).

Pure: no Flask, HTTP, threads or clocks. Wall time (``now_ms``, ms since the
epoch) and monotonic time (``mono``, seconds) are passed in, so the same code
is driven by the server, the unit tests and the simulator.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .metadata import DEFAULT_MAX_METADATA_BYTES, MALFORMED_META, NO_META, Meta, meta_size
from .model import ServerEntry, entry_key

__all__ = ["Membership", "MergeReport", "default_failure_timeout", "join"]


def join(a: ServerEntry, b: ServerEntry) -> ServerEntry:
    """The larger of two entries about the same server (merge is this join)."""
    return a if entry_key(a) >= entry_key(b) else b


def default_failure_timeout(gossip_interval: float, cluster_size: int) -> float:
    """Seconds without a heartbeat before a peer is declared offline.

    A heartbeat reaches everyone in about log N rounds of push-pull gossip, with
    a tail; the timeout leaves room for that tail plus lost messages. The
    constants were tuned with the simulator (``bench/failure_detection.py``).
    """
    n = max(cluster_size, 2)
    return gossip_interval * (6 + 2 * math.log2(n))


@dataclass
class MergeReport:
    """What one merge did, for logs, counters and signals."""

    changed: list[ServerEntry] = field(default_factory=list)
    went_online: list[str] = field(default_factory=list)
    went_offline: list[str] = field(default_factory=list)
    dropped_stale: list[str] = field(default_factory=list)
    dropped_future: list[str] = field(default_factory=list)
    refused_not_allowed: list[str] = field(default_factory=list)
    refused_full: list[str] = field(default_factory=list)
    #: Entries refused for malformed or oversized metadata (section 8.5).
    refused_meta: list[str] = field(default_factory=list)
    #: Peers whose metadata changed (new servers with metadata included).
    meta_changed: list[str] = field(default_factory=list)
    refuted: list[ServerEntry] = field(default_factory=list)


class Membership:
    """The entries one server holds, keyed by normalised base URL.

    The server's own entry always says what the server intends (online or
    drained, monitor or not); claims by others about it are never adopted.
    """

    def __init__(
        self,
        self_url: str,
        *,
        monitor: bool,
        now_ms: int,
        retention_ms: int,
        max_skew_ms: int,
        admits: Callable[[str], bool] | None = None,
        max_entries: int | None = None,
        meta: Meta = NO_META,
        max_meta_bytes: int = DEFAULT_MAX_METADATA_BYTES,
    ) -> None:
        self.self_url = self_url
        self.retention_ms = retention_ms
        self.max_skew_ms = max_skew_ms
        #: Which base URLs may enter the view (SHAZBOT_ALLOWED_PEERS).
        self.admits = admits
        #: Cap on the view's size: a flood of made-up servers cannot grow it further.
        self.max_entries = max_entries
        #: Entries whose metadata encodes larger than this are refused.
        self.max_meta_bytes = max_meta_bytes
        self.entries: dict[str, ServerEntry] = {
            self_url: ServerEntry(self_url, monitor, now_ms, True, meta)
        }
        #: Monotonic time at which each peer's ``last_update`` last increased.
        self.heard_at: dict[str, float] = {}
        #: Monotonic time of the last failure-detection pass (to notice local pauses).
        self.last_detection: float | None = None

    # -- own entry -----------------------------------------------------------

    @property
    def own(self) -> ServerEntry:
        """This server's own entry."""
        return self.entries[self.self_url]

    def _abandoned(self, version: int, now_ms: int) -> bool:
        """Whether our own ``version`` is one no peer with our clock accepts.

        Peers refuse versions more than the skew limit ahead of their clocks
        (merge rule 1); refuting the newest claim they may send yields at most
        one millisecond more, which stays ours. Anything beyond was dated by a
        clock that has since gone back (docs/protocol.md section 4, "Clock
        steps"): no peer with a clock like ours holds it, so it is abandoned.
        """
        return version > now_ms + self.max_skew_ms + 1

    def _bump_own(
        self, now_ms: int, *, online: bool | None = None, meta: Meta | None = None, at_least: int = 0
    ) -> ServerEntry:
        # The one rule for every change to our own entry: the version never
        # moves backwards, whatever the wall clock does, except that a version
        # no peer accepts is abandoned for a new incarnation at ``now``.
        own = self.own
        base = now_ms if self._abandoned(own.last_update, now_ms) else own.last_update + 1
        new = own._replace(
            last_update=max(now_ms, base, at_least),
            online=own.online if online is None else online,
            meta=own.meta if meta is None else meta,
        )
        self.entries[self.self_url] = new
        return new

    def heartbeat(self, now_ms: int) -> None:
        """Called on every gossip tick. A drained server does not heartbeat,
        except to abandon a version no peer accepts (its drain must reach them)."""
        if self.own.online or self._abandoned(self.own.last_update, now_ms):
            self._bump_own(now_ms)

    def set_online(self, online: bool, now_ms: int) -> bool:
        """Drain (``False``) or return (``True``); a new version either way.

        Returns whether the status changed.
        """
        changed = self.own.online != online
        self._bump_own(now_ms, online=online)
        return changed

    def set_metadata(self, meta: Meta, now_ms: int) -> bool:
        """Publish new metadata (already checked): a new version, as a drain
        is. Returns whether it differs from what was published."""
        changed = self.own.meta != meta
        self._bump_own(now_ms, meta=meta)
        return changed

    def _bad_meta(self, meta: Meta) -> bool:
        return meta == MALFORMED_META or meta_size(meta) > self.max_meta_bytes

    # -- merge ---------------------------------------------------------------

    def merge(self, incoming: Iterable[ServerEntry], now_ms: int, mono: float) -> MergeReport:
        """Merge entries received from a peer or the master list."""
        report = MergeReport()
        oldest = now_ms - self.retention_ms
        newest = now_ms + self.max_skew_ms
        for entry in incoming:
            if entry.last_update < oldest:
                report.dropped_stale.append(entry.base_url)
                continue
            if entry.last_update > newest:
                report.dropped_future.append(entry.base_url)
                continue
            current = self.entries.get(entry.base_url)
            # Metadata already held passed this check when it was accepted:
            # measuring it again on every exchange would dominate merge.
            if entry.meta and (current is None or entry.meta != current.meta) and self._bad_meta(entry.meta):
                report.refused_meta.append(entry.base_url)
                continue
            if entry.base_url == self.self_url:
                self._consider_claim_about_self(entry, now_ms, report)
                continue
            if current is None:
                if self.admits is not None and not self.admits(entry.base_url):
                    report.refused_not_allowed.append(entry.base_url)
                    continue
                if self.max_entries is not None and len(self.entries) >= self.max_entries:
                    report.refused_full.append(entry.base_url)
                    continue
            elif entry_key(entry) <= entry_key(current):
                continue
            self.entries[entry.base_url] = entry
            report.changed.append(entry)
            if current is None or entry.last_update > current.last_update:
                self.heard_at[entry.base_url] = mono
            if current is None or current.online != entry.online:
                (report.went_online if entry.online else report.went_offline).append(entry.base_url)
            if (current.meta if current is not None else NO_META) != entry.meta:
                report.meta_changed.append(entry.base_url)
        return report

    def _consider_claim_about_self(self, claim: ServerEntry, now_ms: int, report: MergeReport) -> None:
        own = self.own
        # A claim without metadata is an older peer's relay, not a disagreement.
        disagrees = (
            claim.online != own.online or claim.monitor != own.monitor or (bool(claim.meta) and claim.meta != own.meta)
        )
        # An abandoned version counts for nothing: every acceptable claim is
        # newer, and answering it starts the new incarnation at once.
        ours = -1 if self._abandoned(own.last_update, now_ms) else own.last_update
        if claim.last_update > ours or (disagrees and claim.last_update == ours):
            # Refute (or catch up with an older incarnation of ourselves): our
            # own version must dominate every claim about us.
            self._bump_own(now_ms, at_least=claim.last_update + 1)
            if disagrees:
                report.refuted.append(claim)

    # -- failure detection and cleanup ---------------------------------------

    def detect_failures(self, mono: float, timeout: float, pause_after: float) -> list[ServerEntry]:
        """Mark offline every online peer not heard from for ``timeout``.

        The peer is marked with ``last value + 1``: that dominates the stale
        online entry everywhere, yet any fresh heartbeat overrides it. If this
        server itself was paused for longer than ``pause_after`` since the last
        call, it listens first: every peer gets a fresh grace period.
        """
        last, self.last_detection = self.last_detection, mono
        if last is not None and mono - last > pause_after:
            for url in self.heard_at:
                self.heard_at[url] = mono
            return []
        failed: list[ServerEntry] = []
        for url, entry in self.entries.items():
            if url == self.self_url or not entry.online:
                continue
            heard = self.heard_at.setdefault(url, mono)
            if mono - heard >= timeout:
                failed.append(entry._replace(online=False, last_update=entry.last_update + 1))
        for entry in failed:
            self.entries[entry.base_url] = entry
        return failed

    def listen_afresh(self, mono: float) -> None:
        """Give every peer a fresh grace period, as after a pause: used when a
        server (re)starts with a view it did not watch being built."""
        for url in self.entries:
            if url != self.self_url:
                self.heard_at[url] = mono
        self.last_detection = None

    def forget_future(self, now_ms: int) -> list[str]:
        """Forget peers (online or offline) dated further ahead of our clock
        than the skew limit; return their base URLs.

        Merge refuses such entries (rule 1); these were accepted while our own
        clock was ahead. Kept, they would block the owner's new incarnation
        for as long as the step was. With :meth:`cleanup`, a view holds only
        entries it would accept now (docs/protocol.md section 4, "Clock steps").
        """
        newest = now_ms + self.max_skew_ms
        gone = [url for url, e in self.entries.items() if url != self.self_url and e.last_update > newest]
        for url in gone:
            del self.entries[url]
            # A new incarnation that arrives later is a new peer: it gets a
            # full grace period from the moment it is heard.
            self.heard_at.pop(url, None)
        return gone

    def cleanup(self, now_ms: int) -> list[str]:
        """Forget peers whose last update is older than the retention."""
        oldest = now_ms - self.retention_ms
        gone = [
            url for url, e in self.entries.items() if url != self.self_url and e.last_update < oldest
        ]
        for url in gone:
            del self.entries[url]
            self.heard_at.pop(url, None)
        return gone

    # -- reading -------------------------------------------------------------

    def view(self) -> list[ServerEntry]:
        """Every entry held, this server's own included."""
        return list(self.entries.values())

    def online_peers(self) -> list[ServerEntry]:
        """The other servers listed online."""
        return [e for u, e in self.entries.items() if e.online and u != self.self_url]

    def offline_peers(self) -> list[ServerEntry]:
        """The other servers listed offline."""
        return [e for u, e in self.entries.items() if not e.online and u != self.self_url]

    def online_count(self) -> int:
        """How many servers are listed online, this one included."""
        return sum(1 for e in self.entries.values() if e.online)
