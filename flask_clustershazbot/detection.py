"""Fast failure detection wired to a running server (docs/protocol.md
section 8.4): the decisions are :mod:`.protocol.suspicion`'s; this module
asks witnesses, answers as a witness, and applies and spreads verdicts.

Probe rounds run off the gossip loop's thread, so a tick never waits for
witnesses (a tick that ran late would make this server distrust itself).
Rounds in flight are bounded; a round that finds no free slot ends
undecided. The loop's health is published in the server's shared stats, so
that every process of the server (any gunicorn worker may answer a probe)
knows whether it may say "unreachable".
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from .protocol.membership import default_failure_timeout
from .protocol.model import ServerEntry
from .protocol.suspicion import LocalHealth, SuspicionPolicy, Suspicions, witness_answer
from .protocol.tick import TickPlan
from .transport import ExchangeError

if TYPE_CHECKING:
    from .node import ClusterNode

__all__ = ["FastDetector", "MAX_ROUNDS_IN_FLIGHT", "MAX_WITNESS_CHECKS"]

log = logging.getLogger("flask_clustershazbot")

#: Probe rounds one server runs at once; each holds up to
#: SHAZBOT_INDIRECT_PROBES threads for at most two request timeouts.
MAX_ROUNDS_IN_FLIGHT = 4
#: Witness checks one process runs at once; more get 503 (not a witness).
MAX_WITNESS_CHECKS = 8
#: A pause between a witness's attempts, so that a refused connection is
#: tried again a moment later rather than three times in a microsecond.
_RETRY_PAUSE = 0.05


class FastDetector:
    """Suspicion, witnesses and verdicts for one :class:`ClusterNode`."""

    def __init__(self, node: ClusterNode) -> None:
        config = node.config
        self._node = node
        timeout = config.failure_timeout or default_failure_timeout(config.gossip_interval, 2)
        self.policy = SuspicionPolicy(
            interval_ms=int(config.gossip_interval * 1000),
            failure_timeout_ms=int(timeout * 1000),
            probes=config.indirect_probes,
        )
        self.health = LocalHealth(self.policy)
        self.suspicions = Suspicions(config.base_url, self.policy)
        self._lock = threading.Lock()  # the pure state above is not thread-safe
        self._idle = threading.Condition(self._lock)
        self._rng = random.Random(node.rng.getrandbits(64))  # used under _lock only
        self._rounds = threading.BoundedSemaphore(MAX_ROUNDS_IN_FLIGHT)
        self._in_flight = 0
        self._closed = False
        self._checks = threading.BoundedSemaphore(MAX_WITNESS_CHECKS)
        self._last_tick_end: float | None = None
        #: A witness has its own request timeout to try the suspect; the
        #: accuser waits that long plus one more for the calls to and fro.
        self.probe_deadline = 2 * config.request_timeout

    @property
    def enabled(self) -> bool:
        """False with SHAZBOT_INDIRECT_PROBES=0: the heartbeat timeout alone decides."""
        return self.policy.probes > 0

    def close(self, timeout: float) -> bool:
        """Start no more rounds and give no more verdicts (the server is
        leaving); wait up to ``timeout`` seconds for rounds in flight."""
        with self._lock:
            self._closed = True
        return self.wait_idle(timeout)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no probe round is in flight (for tests and shutdown);
        False if some still were after ``timeout`` seconds."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def _now_ms(self) -> int:
        return int(self._node.monotonic() * 1000)

    # -- accuser --------------------------------------------------------------

    def tick_started(self, plan: TickPlan, view: Mapping[str, ServerEntry], online: Sequence[ServerEntry]) -> None:
        """Called at each tick after planning: note how late it ran (the gap
        since the last tick ended, beyond the interval and its jitter),
        publish this server's health, and start the rounds that are due
        (``view`` needs to hold only the suspects)."""
        started = self._node.monotonic()
        late_ms = 0
        if self._last_tick_end is not None:
            # Ticks are one interval apart, +-10%; a longer gap after the
            # previous tick ended means this process did not get to run.
            gap = started - self._last_tick_end - 1.1 * self._node.config.gossip_interval
            late_ms = max(0, int(gap * 1000))
        now = self._now_ms()
        with self._lock:
            self.health.record_tick(now, late_ms, plan.paused)
            healthy = self.health.healthy(now)
            due = [] if self._closed or not self.enabled else self.suspicions.due(
                now, view, online, self._rng, healthy
            )
        # For the witnesses among this server's processes (see witness()).
        self._node.mark("tick_healthy" if healthy else "tick_unhealthy")
        for suspect, witnesses in due:
            self._begin_round(suspect, witnesses)

    def tick_ended(self) -> None:
        """Called when a tick's exchanges are done (also when one raised)."""
        self._last_tick_end = self._node.monotonic()

    def partner_exchanged(self, partner: ServerEntry, ok: bool, online: Sequence[ServerEntry]) -> None:
        """The tick's exchange with ``partner`` (believed online) ended: it
        counts towards this server's health; a failure may start a suspicion."""
        now = self._now_ms()
        with self._lock:
            self.health.record_exchange(ok)
            if ok or self._closed or not self.enabled:
                return
            witnesses = self.suspicions.start(partner, now, online, self._rng, self.health.healthy(now))
        if witnesses:
            self._begin_round(partner, witnesses)

    def suspects(self) -> list[str]:
        """The base URLs under suspicion now."""
        with self._lock:
            return self.suspicions.suspects()

    def contact(self, base_url: str) -> None:
        """This server and ``base_url`` just exchanged directly: it is alive."""
        with self._lock:
            self.suspicions.contact(base_url)

    def _begin_round(self, suspect: ServerEntry, witnesses: list[ServerEntry]) -> None:
        if not self._rounds.acquire(blocking=False):
            with self._lock:  # no free slot: the round ends undecided, the suspicion stays
                self.suspicions.conclude(suspect.base_url, self._now_ms(), suspect)
            return
        self._node.count("probe_rounds")
        with self._lock:
            self._in_flight += 1
        try:
            threading.Thread(
                target=self._round, args=(suspect, witnesses), name="shazbot-probe", daemon=True
            ).start()
        except RuntimeError:  # no new threads at interpreter exit
            self._round_done()

    def _round_done(self) -> None:
        self._rounds.release()
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    def _round(self, suspect: ServerEntry, witnesses: list[ServerEntry]) -> None:
        try:
            answers = self._ask(suspect, witnesses)
            with self._lock:
                for witness, (reachable, answered) in answers.items():
                    # A witness that answered, even "not a witness", was reached.
                    self.health.record_exchange(answered)
                    self.suspicions.answer(suspect.base_url, witness, reachable)
            self._conclude(suspect)
        except Exception:  # a bug must not leave a traceback in a daemon thread
            log.exception("probe round about %s failed unexpectedly", suspect.base_url)
        finally:
            self._round_done()

    def _ask(self, suspect: ServerEntry, witnesses: list[ServerEntry]) -> dict[str, tuple[bool | None, bool]]:
        """Each witness's answer and whether it answered at all (a 404, 405
        or 503 is an answer: "not a witness"), asked in parallel."""
        answers: queue.Queue[tuple[str, bool | None, bool]] = queue.Queue()

        def ask(witness: str) -> None:
            reachable: bool | None = None
            answered = False
            try:
                reachable = self._node.transport.probe(witness, suspect.base_url, self.probe_deadline)
                answered = True
            except ExchangeError:
                pass
            except Exception:  # never a traceback from a daemon thread
                log.debug("probe request to %s failed unexpectedly", witness, exc_info=True)
            finally:
                answers.put((witness, reachable, answered))

        result: dict[str, tuple[bool | None, bool]] = {}
        for witness in witnesses:
            result[witness.base_url] = (None, False)
            self._node.count("probe_requests_sent")
            try:
                threading.Thread(target=ask, args=(witness.base_url,), name="shazbot-probe", daemon=True).start()
            except RuntimeError:  # no new threads at interpreter exit
                answers.put((witness.base_url, None, False))
        end = time.monotonic() + self.probe_deadline + 0.5
        for _ in witnesses:
            remaining = end - time.monotonic()
            if remaining <= 0:
                break
            try:
                url, reachable, answered = answers.get(timeout=remaining)
            except queue.Empty:
                break
            result[url] = (reachable, answered)
        return result

    def _conclude(self, suspect: ServerEntry) -> None:
        node = self._node
        with node.store.transaction() as membership:
            current = membership.entries.get(suspect.base_url)
        now = self._now_ms()
        with self._lock:
            outcome = self.suspicions.outcome(suspect.base_url)
            said_no = self.suspicions.unreachable_answers(suspect.base_url)
            # Lifeguard: a server that became unhealthy (or is leaving)
            # during the round accuses nobody.
            may_accuse = not self._closed and self.health.healthy(now)
            verdict = self.suspicions.conclude(suspect.base_url, now, current if may_accuse else None)
        node.count(f"probe_rounds_{outcome.value}")
        if verdict is None:
            return
        now_ms, mono = node.wall_ms(), node.monotonic()
        with node.store.transaction() as membership:
            report = membership.merge([verdict], now_ms, mono)
            # The verdict and our own entry only: a large view would cost
            # seconds to send to several peers.
            message = node.encode([membership.entries[verdict.base_url], membership.own])
            peers = membership.online_peers()
        if verdict.base_url not in report.went_offline:
            return  # a fresher heartbeat got here first
        with self._lock:
            self._rng.shuffle(peers)
        peers.sort(key=lambda p: not p.monitor)
        node.count("failures_detected_by_probes")
        log.info(
            "server %s declared offline: unreachable from here, and for %d witness(es) in the last of %d rounds",
            verdict.base_url, said_no, self.policy.confirmations,
        )
        told = node.fan_out(
            peers, message, node.config.request_timeout, self.policy.verdict_fanout, merge_answers=False,
            record_backoff=False,
        )
        log.debug("offline verdict about %s pushed to %d peer(s)", verdict.base_url, told)

    # -- witness --------------------------------------------------------------

    def _server_healthy(self) -> bool:
        """Whether this server's gossip loop, in whichever of its processes
        it runs, found itself healthy at its last tick, within three
        intervals (shared through the server's stats)."""
        marks = self._node.stats.totals()[1]
        healthy_at, unhealthy_at = marks.get("tick_healthy"), marks.get("tick_unhealthy")
        if healthy_at is None or self._node.wall_ms() / 1000 - healthy_at > 3 * self._node.config.gossip_interval:
            return False
        return unhealthy_at is None or healthy_at > unhealthy_at

    def witness(self, suspect_url: str) -> bool | None:
        """Try ``suspect_url`` as a witness: up to ``witness_attempts`` real
        exchanges within the request timeout, another attempt only after a
        refused or reset connection. True if one worked; False if none did
        and this server is healthy; None if it is not (it abstains), or if
        this process already runs :data:`MAX_WITNESS_CHECKS` checks."""
        node = self._node
        if not self._checks.acquire(blocking=False):
            node.count("probe_requests_refused_busy")
            return None
        try:
            node.count("probe_checks")
            message = node.encode([node.own_entry()])
            end = node.monotonic() + node.config.request_timeout
            reached = False
            for attempt in range(self.policy.witness_attempts):
                remaining = end - node.monotonic()
                if remaining <= 0:
                    break
                if attempt:
                    time.sleep(min(_RETRY_PAUSE, remaining))
                try:
                    answer = node.transport.exchange(suspect_url, message, max(remaining - _RETRY_PAUSE, 0.01))
                except ExchangeError as exc:
                    if exc.reason != "connection":
                        break  # it answered, wrongly, or the budget is spent: no retry
                    continue
                node.merge_answer(answer, suspect_url)
                self.contact(suspect_url)
                reached = True
                break
            return witness_answer(reached, reached or self._server_healthy())
        finally:
            self._checks.release()
