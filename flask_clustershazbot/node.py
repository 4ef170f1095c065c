"""The running server: protocol operations wired to a state store, a peer
transport and a master list. No Flask and no scheduler here: the blueprint calls
the ``receive_*`` methods, the gossip loop calls the others.

Errors from peers and stores are logged and counted, never raised into the
scheduler.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable

from .config import ShazbotConfig
from .deadline import deadline, deadline_session
from .detection import FastDetector
from .errors import MasterListError
from .masterlist.backend import open_master_list
from .masterlist.core import MasterListStore, is_writable
from .protocol.allowlist import PeerAllowList
from .protocol.membership import Membership, MergeReport
from .protocol.metadata import Meta, meta_json
from .protocol.model import ServerEntry, ServerList, entries_to_wire
from .protocol.text import printable
from .protocol.tick import (
    SHUTDOWN_FANOUT,
    GoodbyeFanout,
    TickPlan,
    TickPolicy,
    begin_leave,
    plan_tick,
    spread_partner,
)
from .state.base import StateStore, Stats, StoreOpener
from .state.identity import ClusterIdentity
from .state.server import store_at
from .tls import TlsFailureMemory
from .transport import ExchangeError, PeerClient, PeerTransport
from .wire import encode_gossip, fit_gossip

__all__ = ["ClusterNode"]

log = logging.getLogger("flask_clustershazbot")


#: How many new servers named by a read-only master list (DNS) are met at once.
MEET_FANOUT = 3
#: A refusal warning about one source is logged at most once per this many seconds...
REFUSAL_WARNING_EVERY = 60.0
#: ... for at most this many sources remembered at once (oldest forgotten first).
REFUSAL_WARNING_SOURCES = 1024


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


class ClusterNode:
    """One server's protocol operations. Everything it touches enters through
    the constructor, so that tests can replace it: ``transport`` (how peers
    are reached; HTTP by default), ``master_list``, the clocks ``wall_ms`` and
    ``monotonic``, and ``rng``."""

    def __init__(
        self,
        config: ShazbotConfig,
        *,
        state_path: str | None = None,
        open_store: StoreOpener | None = None,
        transport: PeerTransport | None = None,
        master_list: MasterListStore | None = None,
        wall_ms: Callable[[], int] = wall_clock_ms,
        monotonic: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self._wall_ms = wall_ms
        self._mono = monotonic
        self.rng = rng or random.Random()
        self.allowlist = PeerAllowList(config.allowed_peers)
        # One process keeps its view in memory; several processes serving one
        # server share it through a file: the process group's choice
        # (state/server.py); a bare ``state_path`` is for tools and benchmarks.
        cluster = ClusterIdentity.of(config.master_list, config.secrets)
        self.store: StateStore = (open_store or store_at(state_path, cluster))(self.new_membership)
        #: The server's counters, kept by the store (shared like the view).
        self.stats: Stats = self.store.stats
        self.transport: PeerTransport = transport or PeerClient(
            secret=config.gossip_secret,
            sender=config.base_url,
            url_prefix=config.url_prefix,
            timeout=config.request_timeout,
            max_body=config.max_content_length,
            tls=config.tls_request_args,
        )
        self.master_list = master_list or open_master_list(
            config.master_list,
            config.master_list_update,
            config.master_list_update_auth,
            # An HTTP master list shares the peer client's connection pool.
            session=self.transport.session if isinstance(self.transport, PeerClient) else deadline_session(),
            timeout=config.request_timeout,
            max_body=config.max_content_length,
            tls=config.tls_request_args,
            dns_scheme=config.dns_scheme,
        )
        self.policy = TickPolicy(config.gossip_interval, config.monitor_preference, config.failure_timeout)
        self.backoff = self.policy.new_backoff()
        self._counter_lock = threading.Lock()  # guards the refusal warnings' memory
        # (counter, source) -> (monotonic time of the last warning, refusals since)
        self._refusal_warnings: OrderedDict[tuple[str, str], tuple[float, int]] = OrderedDict()
        # A TLS failure repeats every tick until someone fixes a certificate:
        # warned about once per peer, again only after a success.
        self._tls_failures = TlsFailureMemory(REFUSAL_WARNING_SOURCES)
        #: Suspicion after a failed exchange, confirmed by witnesses
        #: (SHAZBOT_INDIRECT_PROBES; docs/protocol.md section 8.4).
        self.detector = FastDetector(self)
        #: The metadata a new run publishes (SHAZBOT_METADATA until set_metadata).
        self._metadata = config.metadata
        #: Whether the master list was read in this process (see knows_cluster).
        self._master_list_read = False

    def encode(self, view: list[ServerEntry]) -> bytes:
        """Our view as a gossip message that a peer with our settings accepts
        (trimmed to SHAZBOT_MAX_ENTRIES_PER_MESSAGE and _MAX_CONTENT_LENGTH)."""
        return encode_gossip(view, **self.config.message_limits)

    def new_membership(self) -> Membership:
        return Membership(
            self.config.base_url,
            monitor=self.config.monitor,
            now_ms=self._wall_ms(),
            retention_ms=int(self.config.offline_retention * 1000),
            max_skew_ms=int(self.config.max_clock_skew * 1000),
            admits=self.allowlist.allows if self.config.allowed_peers else None,
            max_entries=self.config.max_view_size,
            meta=self.config.metadata,
            max_meta_bytes=self.config.max_metadata_bytes,
        )

    def count(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to the server's counter ``name`` (see :attr:`stats`)."""
        self.stats.count(name, amount)

    def mark(self, name: str) -> None:
        """Record that ``name`` happened now (for the metrics' timestamps)."""
        self.stats.mark(name, self._wall_ms() / 1000)

    @property
    def counters(self) -> Counter[str]:
        """This process's counts, as a snapshot."""
        return Counter(self.stats.local()[0])

    # -- reading -------------------------------------------------------------

    def entries(self) -> list[ServerEntry]:
        with self.store.transaction() as membership:
            return membership.view()

    def own_entry(self) -> ServerEntry:
        with self.store.transaction() as membership:
            return membership.own

    def server_list(self) -> ServerList:
        return entries_to_wire(self.entries())

    def wall_ms(self) -> int:
        """This server's wall clock, in epoch milliseconds (as entries date)."""
        return self._wall_ms()

    def monotonic(self) -> float:
        """This server's monotonic clock, in seconds (as silences are timed)."""
        return self._mono()

    # -- serving -------------------------------------------------------------

    def receive_gossip(
        self, incoming: list[ServerEntry], source: str = "a peer", sender_url: str | None = None
    ) -> list[ServerEntry]:
        """Merge a peer's view; return ours after the merge (the answer).
        ``sender_url``: the sender's base URL if it named itself (it is
        alive: any suspicion of it ends)."""
        self.count("exchanges_received")
        now_ms, mono = self._wall_ms(), self._mono()
        with self.store.transaction() as membership:
            report = membership.merge(incoming, now_ms, mono)
            view = membership.view()
        self._log_report(report, source)
        if sender_url is not None:
            self.detector.contact(sender_url)
        return view

    def knows(self, base_url: str) -> bool:
        """Whether ``base_url`` is in this server's view."""
        with self.store.transaction() as membership:
            return base_url in membership.entries

    def begin_run(self) -> None:
        """A new run of this server: online with a new version, and a fresh
        grace period for every peer already in the view."""
        with self.store.transaction() as membership:
            now_ms = self._wall_ms()
            membership.set_online(True, now_ms)
            # A new run publishes this process's metadata (SHAZBOT_METADATA,
            # or what set_metadata gave before the start), not what a saved
            # view holds from the last run.
            membership.set_metadata(self._metadata, now_ms)
            membership.listen_afresh(self._mono())

    def set_online(self, online: bool) -> bool:
        """Drain or return this server with a new version; True if it changed."""
        with self.store.transaction() as membership:
            changed = membership.set_online(online, self._wall_ms())
        if changed:
            log.info("this server is now %s", "online" if online else "offline (drained)")
        return changed

    def set_metadata(self, meta: Meta) -> bool:
        """Publish new metadata (checked by the caller) with a new version;
        True if it changed."""
        self._metadata = meta  # also what the next run (start) publishes
        with self.store.transaction() as membership:
            changed = membership.set_metadata(meta, self._wall_ms())
        if changed:
            log.info("this server's metadata is now %s", printable(meta_json(meta)))
        return changed

    # -- gossip loop ---------------------------------------------------------

    def load_master_list(self) -> None:
        """Read and merge the master list; raises :class:`MasterListError`."""
        try:
            entries = self.master_list.read()
        except Exception:
            self.count("master_list_read_failures")
            raise
        self.count("master_list_reads")
        self.mark("master_list_read")
        if not is_writable(self.master_list):
            self._meet(entries)
            self._master_list_read = True
            return
        now_ms, mono = self._wall_ms(), self._mono()
        with self.store.transaction() as membership:
            report = membership.merge(entries, now_ms, mono)
        self._log_report(report, "the master list")
        self._master_list_read = True

    def knows_cluster(self, view: list[ServerEntry]) -> bool:
        """Whether ``view`` (this server's) can be more than this server alone
        talking: the master list was read, or another server is known. Before
        that a server would own every key of the cluster."""
        return self._master_list_read or len(view) > 1

    def _meet(self, seeds: list[ServerEntry]) -> None:
        """Gossip with up to MEET_FANOUT of the servers a read-only source
        (DNS) names that this server does not know yet; each answers with its
        own entry. DNS gives no versions, so its entries are never merged
        (masterlist/dns.py). Raises :class:`MasterListError` while this
        server knows no peer and none answered, so that bootstrap retries."""
        with self.store.transaction() as membership:
            known = set(membership.entries)  # this server's own URL included
            alone = len(known) <= 1
            message = self.encode(membership.view())
        unknown = [seed for seed in seeds if seed.base_url not in known]
        # Refused before the fan-out: one rate-limited warning per read, not
        # one per record (a DNS answer may list hundreds).
        new = [seed for seed in unknown if self.allowlist.allows(seed.base_url)]
        outside = [seed.base_url for seed in unknown if not self.allowlist.allows(seed.base_url)]
        self._warn_refused("entries_refused_not_allowed", outside, "the master list", "outside SHAZBOT_ALLOWED_PEERS")
        self.rng.shuffle(new)  # not every newcomer on the same first servers
        met = self.fan_out(new, message, self.config.request_timeout, MEET_FANOUT, record_backoff=False) if new else 0
        log.debug("met %d of %d new server(s) from the master list", met, len(new))
        if alone and not met:
            raise MasterListError(
                f"none of the {len(new)} other server(s) in the master list answered" if new
                else f"the master list names no other server within SHAZBOT_ALLOWED_PEERS ({len(unknown)} outside)"
                if unknown else "the master list names no other server yet"
            )

    def gossip_tick(self) -> None:
        """Heartbeat, expire failed peers, clean up, exchange with one partner
        (and now and then with one offline peer)."""
        now_ms, mono = self._wall_ms(), self._mono()
        with self.store.transaction() as membership:
            plan = plan_tick(membership, now_ms, mono, self.rng, self.backoff, self.policy)
            message = self.encode(membership.view())
            # Only the suspects are looked up: no copy of a large view.
            suspects = {
                url: membership.entries[url] for url in self.detector.suspects() if url in membership.entries
            }
        try:
            self.detector.tick_started(plan, suspects, plan.online_peers)
            self._tick_exchanges(plan, message, plan.online_peers)
        finally:
            self.detector.tick_ended()
        for failed in plan.failed:
            self.count("failures_detected")
            log.info("server %s declared offline: no heartbeat for %.1fs", failed.base_url, plan.timeout)
        for gone in plan.forgotten:
            log.info("server %s forgotten: offline for longer than the retention", gone)
        for gone in plan.forgotten_future:
            log.info(
                "server %s forgotten: dated more than %ss ahead of this server's clock (did this clock go back?)",
                gone, self.config.max_clock_skew,
            )

    def _tick_exchanges(self, plan: TickPlan, message: bytes, online: list[ServerEntry]) -> None:
        for target in plan.targets:
            ok = self.exchange_with(target.base_url, message)
            if target is plan.partner:
                self.detector.partner_exchanged(target, ok, online)

    def spread(self) -> None:
        """One extra exchange at once, so a drain or return travels fast."""
        mono = self._mono()
        with self.store.transaction() as membership:
            partner = spread_partner(membership, self.rng, self.policy, self.backoff, mono)
            message = self.encode(membership.view())
        if partner is not None:
            self.exchange_with(partner.base_url, message)

    def exchange_with(
        self,
        base_url: str,
        message: bytes,
        timeout: float | None = None,
        *,
        merge_answer: bool = True,
        record_backoff: bool = True,
    ) -> bool:
        """POST our view to one peer and merge its answer (unless
        ``merge_answer`` is false: a leaving server has no use for it); never
        raises."""
        if not self.allowlist.allows(base_url):
            # Defence in depth: such entries never enter the view.
            self.count("exchanges_refused_not_allowed")
            log.warning("not contacting %s: outside SHAZBOT_ALLOWED_PEERS", base_url)
            return False
        self.count("exchanges_sent")
        try:
            answer = self.transport.exchange(base_url, message, timeout)
        except ExchangeError as exc:
            self.count("exchanges_failed")
            self.count(f"exchanges_failed_{exc.reason}")
            if record_backoff:
                self.backoff.record_failure(base_url, self._mono())
            if exc.reason == "tls" and self._tls_failures.first_failure(base_url, exc.detail):
                log.warning("cannot reach %s over TLS: %s (logged once until a success)",
                            printable(base_url), printable(exc.detail))
            else:
                log.debug("exchange with %s failed: %s", base_url, printable(str(exc)))
            return False
        except Exception:  # a bug must not kill the loop
            self.count("exchanges_failed")
            log.exception("exchange with %s failed unexpectedly", base_url)
            return False
        if record_backoff:
            self.backoff.record_success(base_url)
        self._tls_failures.succeeded(base_url)
        self.mark("exchange_success")
        self.detector.contact(base_url)
        if not merge_answer:
            return True
        self.merge_answer(answer, base_url)
        return True

    def merge_answer(self, answer: list[ServerEntry], base_url: str) -> None:
        """Merge the entries a peer answered with."""
        now_ms, mono = self._wall_ms(), self._mono()
        with self.store.transaction() as membership:
            report = membership.merge(answer, now_ms, mono)
        log.debug("exchanged views with %s (%d entries back)", base_url, len(answer))
        self._log_report(report, base_url)

    def fan_out(
        self,
        peers: list[ServerEntry],
        message: bytes,
        seconds: float,
        fanout: int = SHUTDOWN_FANOUT,
        *,
        merge_answers: bool = True,
        record_backoff: bool = True,
    ) -> int:
        """Send ``message`` to ``fanout`` of ``peers`` at once, in order, the
        next one started when one fails, all within ``seconds``; return how
        many took it (:class:`GoodbyeFanout` decides). ``record_backoff``:
        from threads other than the loop's, leave the partner backoff alone
        (the loop's own state)."""
        sender = _Fanout(self, peers, message, self._mono() + seconds, fanout, merge_answers, record_backoff)
        sender.begin()
        return sender.wait()

    def announce(self) -> None:
        """Read-merge-write of the master list; raises :class:`MasterListError`.
        A read-only source (DNS) is read again instead, and newcomers met."""
        if not is_writable(self.master_list):
            self.load_master_list()
            return

        def merge_into_view(stored: list[ServerEntry]) -> list[ServerEntry]:
            now_ms, mono = self._wall_ms(), self._mono()
            with self.store.transaction() as membership:
                report = membership.merge(stored, now_ms, mono)
                view = membership.view()
            self._log_report(report, "the master list")
            # What a server with our settings can read back (an oversized
            # list could never be read, nor so replaced, again).
            return fit_gossip(view, **self.config.message_limits)

        try:
            self.master_list.update(merge_into_view)
        except MasterListError:
            self.count("master_list_write_failures")
            raise
        self.count("master_list_writes")
        self.mark("master_list_write")

    def leave(self, *, write_master_list: bool) -> None:
        """Mark this server offline and tell a few peers, monitors first, and
        write the master list if asked, all within ``shutdown_timeout``
        seconds. The peers are told in parallel, so one that hangs costs its
        own call, not the others' budget."""
        end = self._mono() + self.config.shutdown_timeout
        # No verdict from a server on its way out; rounds in flight get a moment.
        self.detector.close(timeout=min(1.0, self.config.shutdown_timeout / 5))
        with self.store.transaction() as membership:
            peers = begin_leave(membership, self._wall_ms(), self.rng)
            # Our own offline entry alone: a goodbye must arrive, and a
            # 20,000-entry view would not within a few seconds.
            message = self.encode([membership.own])
        goodbye = _Fanout(self, peers, message, end, SHUTDOWN_FANOUT, merge_answers=False, record_backoff=True)
        goodbye.begin()
        if write_master_list and is_writable(self.master_list):
            try:
                with deadline(end - self._mono()):
                    self.announce()
            except Exception as exc:
                detail = printable(str(exc)) if isinstance(exc, MasterListError) else type(exc).__name__
                log.warning("could not write the master list while shutting down: %s", detail)
        told = goodbye.wait()
        log.info("this server left the cluster; told %d peer(s)", told)

    def close(self) -> None:
        self.detector.close(timeout=0)
        self.transport.close()
        self.store.close()

    # -- logging -------------------------------------------------------------

    def _warn_refused(self, counter: str, urls: list[str], source: str, why: str) -> None:
        if not urls:
            return
        self.count(counter, len(urls))
        # One misconfigured or skewed peer refuses entries every exchange:
        # warn about it once a minute, with how many were refused meanwhile.
        key, mono = (counter, source), self._mono()
        with self._counter_lock:
            previous = self._refusal_warnings.pop(key, None)
            since = len(urls) + (previous[1] if previous else 0)
            quiet = previous is not None and mono - previous[0] < REFUSAL_WARNING_EVERY
            self._refusal_warnings[key] = (previous[0], since) if previous and quiet else (mono, 0)
            while len(self._refusal_warnings) > REFUSAL_WARNING_SOURCES:
                self._refusal_warnings.popitem(last=False)
        if quiet:
            log.debug("refused %d entries from %s %s", len(urls), source, why)
            return
        log.warning(
            "refused %d entr%s from %s %s: %s",
            since, "y" if since == 1 else "ies", source, why, ", ".join(urls[:5]),
        )

    def _log_report(self, report: MergeReport, source: str) -> None:
        for url in report.went_online:
            log.info("server %s is online (from %s)", url, source)
        for url in report.went_offline:
            log.info("server %s is offline (from %s)", url, source)
        for claim in report.refuted:
            self.count("refutations")
            log.info(
                "refuted a claim from %s that this server is %s", source, "online" if claim.online else "offline"
            )
        self._warn_refused(
            "entries_dropped_future", report.dropped_future, source,
            f"dated more than {self.config.max_clock_skew}s in the future (clock skew?)",
        )
        self._warn_refused("entries_refused_not_allowed", report.refused_not_allowed, source,
                           "outside SHAZBOT_ALLOWED_PEERS")
        self._warn_refused(
            "entries_refused_metadata", report.refused_meta, source,
            f"with malformed metadata or metadata over SHAZBOT_MAX_METADATA_BYTES ({self.config.max_metadata_bytes})",
        )
        if report.refused_full:
            self.count("entries_refused_view_full", len(report.refused_full))
            log.warning(
                "view is full (SHAZBOT_MAX_VIEW_SIZE=%d): refused %d new entries from %s",
                self.config.max_view_size,
                len(report.refused_full),
                source,
            )
        if report.dropped_stale:
            self.count("entries_dropped_stale", len(report.dropped_stale))
            log.debug("dropped %d entries from %s older than the retention", len(report.dropped_stale), source)


class _Fanout:
    """Tells several peers at once (a goodbye, an offline verdict), as
    :class:`GoodbyeFanout` decides: each call in its own thread, all within
    the end time."""

    def __init__(
        self, node: ClusterNode, peers: list[ServerEntry], message: bytes, end: float, fanout: int,
        merge_answers: bool,
        record_backoff: bool,
    ) -> None:
        self._node = node
        self._fanout = GoodbyeFanout(peers, fanout=fanout)
        self._message = message
        self._end = end
        self._merge = merge_answers
        self._record_backoff = record_backoff
        self._results: queue.Queue[bool] = queue.Queue()

    def _remaining(self) -> float:
        return self._end - self._node._mono()

    def _send(self, base_url: str, timeout: float) -> None:
        told = False
        try:
            told = self._node.exchange_with(
                base_url, self._message, timeout=timeout, merge_answer=self._merge, record_backoff=self._record_backoff
            )
        except Exception:  # never a traceback from a daemon thread at exit
            log.debug("telling %s failed", base_url, exc_info=True)
        finally:
            self._results.put(told)

    def _launch(self) -> None:
        remaining = self._remaining()
        if remaining <= 0:
            return
        for peer in self._fanout.start():
            try:
                threading.Thread(
                    target=self._send, args=(peer.base_url, remaining), name="shazbot-fanout", daemon=True
                ).start()
            except RuntimeError:  # no new threads at interpreter exit (Python 3.12): one at a time
                self._send(peer.base_url, remaining)

    def begin(self) -> None:
        self._launch()

    def wait(self) -> int:
        """Wait for the answers (at most until the end); return how many peers heard it."""
        while not self._fanout.done:
            remaining = self._remaining()
            if remaining <= 0:
                break
            try:
                told = self._results.get(timeout=remaining)
            except queue.Empty:
                break
            self._fanout.record(told)
            if not told:
                self._launch()
        return self._fanout.told
