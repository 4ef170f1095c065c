"""Fast failure detection: suspicion after a failed exchange, confirmed
indirectly by witnesses (SWIM), only by a server that is itself healthy
(Lifeguard). docs/protocol.md section 5 and 8.4.

Pure: no clocks, threads or I/O. Time comes in as milliseconds (any clock,
as long as one server uses the same one throughout: the server passes its
monotonic clock, the simulator its virtual one), randomness as a
``random.Random``. The server (and ``bench/sim.py``) does the requests and
reports what happened:

1. every tick: :meth:`LocalHealth.record_tick`, then :meth:`Suspicions.due`
   (the next rounds to run);
2. every outgoing exchange with an online peer: :meth:`LocalHealth.record_exchange`;
   on failure, :meth:`Suspicions.start` gives the witnesses to ask; on
   success, and on every gossip received, :meth:`Suspicions.contact`;
3. each witness's answer (``None`` for no answer, 404 or 405):
   :meth:`Suspicions.answer`; when all are in or the deadline passed,
   :meth:`Suspicions.conclude` gives the verdict, if any, to merge into the
   view and push to :attr:`SuspicionPolicy.verdict_fanout` peers at once;
4. on the witness side, :func:`witness_answer` turns the witness's own
   attempts (at most :attr:`SuspicionPolicy.witness_attempts`, within the
   request timeout) into the ``reachable`` it sends back.

A verdict needs :attr:`SuspicionPolicy.confirmations` rounds (with none in
between that cleared it) in which no witness reached the suspect and at least ``min(2, k)`` witnesses
said they could not; any witness that reaches it, or any direct exchange
with the suspect (:meth:`Suspicions.contact`), clears the suspicion.
Otherwise the heartbeat timeout decides, as before.
"""

from __future__ import annotations

import enum
import random
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .model import ServerEntry

__all__ = [
    "Outcome",
    "SuspicionPolicy",
    "LocalHealth",
    "Suspicions",
    "witness_answer",
    "DEFAULT_INDIRECT_PROBES",
]

#: SHAZBOT_INDIRECT_PROBES default: witnesses asked per suspicion round.
DEFAULT_INDIRECT_PROBES = 3


class Outcome(enum.Enum):
    """What one suspicion round established."""

    #: A witness reached the suspect: it is alive.
    CLEARED = "cleared"
    #: No witness reached it and enough witnesses said they could not.
    UNREACHABLE = "unreachable"
    #: Too few answers: no conclusion (the heartbeat timeout decides).
    UNDECIDED = "undecided"


@dataclass(frozen=True)
class SuspicionPolicy:
    """The constants of fast failure detection (tuned with
    ``bench/fast_detection.py``)."""

    interval_ms: int
    #: Failure timeout in ms: a tripped local-pause guard keeps this server
    #: from accusing for this long.
    failure_timeout_ms: int
    #: Witnesses asked per round (SHAZBOT_INDIRECT_PROBES); 0 turns the fast path off.
    probes: int = DEFAULT_INDIRECT_PROBES
    #: "Unreachable" answers a round needs (capped at ``probes``).
    min_answers: int = 2
    #: UNREACHABLE rounds before a verdict. They are consecutive in that no
    #: round between them cleared the suspect (a CLEARED round ends the
    #: suspicion); an UNDECIDED round between them, which says nothing
    #: either way, is retried without resetting the count.
    confirmations: int = 2
    #: Rounds one suspicion may take in all.
    max_rounds: int = 4
    #: Suspects tracked at once; a failed exchange beyond this starts nothing.
    max_suspects: int = 64
    #: Peers a verdict is pushed to at once (monitors first). 6, not 3: at
    #: N = 100, 5% loss, p99 detection 9 rounds instead of 11.
    verdict_fanout: int = 6
    #: Tries a witness makes to reach the suspect within its budget.
    witness_attempts: int = 3
    #: Outgoing exchange outcomes LocalHealth remembers.
    health_window: int = 10
    #: Share of those (of at least 4) failed that makes this server unhealthy.
    unhealthy_ratio: float = 0.7

    @property
    def required_answers(self) -> int:
        """``min(min_answers, probes)``: one answer suffices when k == 1."""
        return max(1, min(self.min_answers, self.probes))

    @property
    def min_gap_ms(self) -> int:
        """Least time between two rounds (suspicions) about one suspect:
        three quarters of an interval, so one per tick. Not a whole interval:
        ticks are one interval apart with +-10% jitter, and the next tick
        must not be skipped for being a little early."""
        return max(1, self.interval_ms * 3 // 4)


class LocalHealth:
    """Whether this server trusts its own view of the network (Lifeguard).

    Unhealthy when at least 70% of the last ``window`` (at least 4) outgoing
    exchanges failed, when the last tick started more than half an interval
    late, or when the local-pause guard tripped within the failure timeout.
    An unhealthy server never accuses, and as a witness it does not say
    "unreachable" (its own failures prove nothing about the suspect).
    """

    def __init__(self, policy: SuspicionPolicy) -> None:
        self.policy = policy
        self.outcomes: deque[bool] = deque(maxlen=max(policy.health_window, 1))
        self.late = False
        self.paused_at: int | None = None

    def record_exchange(self, ok: bool) -> None:
        """An outgoing exchange with a peer believed online (or a probe
        request to a witness) succeeded or failed."""
        self.outcomes.append(ok)

    def record_tick(self, now_ms: int, late_ms: int, paused: bool = False) -> None:
        """A tick started ``late_ms`` after it was due; ``paused``: the
        membership's local-pause guard tripped on it."""
        self.late = late_ms > self.policy.interval_ms // 2
        if paused:
            self.paused_at = now_ms

    def healthy(self, now_ms: int) -> bool:
        """Whether this server may accuse (and testify "unreachable")."""
        if self.late:
            return False
        if self.paused_at is not None and now_ms - self.paused_at < self.policy.failure_timeout_ms:
            return False
        failed = sum(1 for ok in self.outcomes if not ok)
        return not (len(self.outcomes) >= 4 and failed >= self.policy.unhealthy_ratio * len(self.outcomes))


def witness_answer(reached: bool, healthy: bool) -> bool | None:
    """What a witness answers after trying the suspect: ``True`` if any
    attempt reached it; ``False`` only if it is healthy itself; otherwise
    ``None`` (it abstains: a server whose own calls fail proves nothing)."""
    if reached:
        return True
    return False if healthy else None


@dataclass
class _Suspicion:
    started_ms: int
    rounds: int = 0
    confirmed: int = 0  # UNREACHABLE rounds, none cleared between
    witnesses: list[str] = field(default_factory=list)
    answers: dict[str, bool | None] = field(default_factory=dict)
    open: bool = False  # a round is waiting for answers


class Suspicions:
    """One server's open suspicions (bounded), and the rules that turn
    witnesses' answers into a verdict."""

    def __init__(self, self_url: str, policy: SuspicionPolicy) -> None:
        self.self_url = self_url
        self.policy = policy
        self._open: dict[str, _Suspicion] = {}
        #: When a round about each suspect last started (the rate limit).
        self._last_round: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._open)

    def __contains__(self, url: object) -> bool:
        return url in self._open

    def suspects(self) -> list[str]:
        """The base URLs under suspicion."""
        return list(self._open)

    def start(
        self,
        suspect: ServerEntry,
        now_ms: int,
        online_peers: Sequence[ServerEntry],
        rng: random.Random,
        healthy: bool,
    ) -> list[ServerEntry]:
        """An exchange with ``suspect`` (believed online) failed: the
        witnesses to ask now, or none (fast path off, unhealthy, rate-limited,
        too many suspects, a round already open, or no witness)."""
        url = suspect.base_url
        if self.policy.probes <= 0 or not healthy or url == self.self_url or not suspect.online:
            return []
        current = self._open.get(url)
        if current is None:
            if len(self._open) >= self.policy.max_suspects:
                return []
        elif current.open:
            return []  # a round is out already
        if now_ms - self._last_round.get(url, now_ms - self.policy.min_gap_ms) < self.policy.min_gap_ms:
            return []
        if current is None:
            current = _Suspicion(started_ms=now_ms)
        return self._begin_round(url, current, now_ms, online_peers, rng)

    def _begin_round(
        self,
        url: str,
        suspicion: _Suspicion,
        now_ms: int,
        online_peers: Sequence[ServerEntry],
        rng: random.Random,
    ) -> list[ServerEntry]:
        candidates = [p for p in online_peers if p.online and p.base_url not in (url, self.self_url)]
        if not candidates:
            self._open.pop(url, None)
            return []
        witnesses = rng.sample(candidates, min(self.policy.probes, len(candidates)))
        suspicion.rounds += 1
        suspicion.witnesses = [w.base_url for w in witnesses]
        suspicion.answers = {}
        suspicion.open = True
        self._open[url] = suspicion
        self._last_round[url] = now_ms
        return witnesses

    def answer(self, suspect_url: str, witness_url: str, reachable: bool | None) -> None:
        """A witness answered (``None``: no answer, 404 or 405, an invalid
        answer: not a witness). Answers from anyone not asked are ignored."""
        suspicion = self._open.get(suspect_url)
        if suspicion is not None and suspicion.open and witness_url in suspicion.witnesses:
            suspicion.answers[witness_url] = reachable

    def unreachable_answers(self, suspect_url: str) -> int:
        """How many witnesses of the current round said they could not reach it."""
        suspicion = self._open.get(suspect_url)
        return 0 if suspicion is None else sum(1 for a in suspicion.answers.values() if a is False)

    def outcome(self, suspect_url: str) -> Outcome:
        """What the answers of the current round say so far."""
        suspicion = self._open.get(suspect_url)
        if suspicion is None:
            return Outcome.UNDECIDED
        said = list(suspicion.answers.values())
        if any(a is True for a in said):
            return Outcome.CLEARED
        if sum(1 for a in said if a is False) >= self.policy.required_answers:
            return Outcome.UNREACHABLE
        return Outcome.UNDECIDED

    def conclude(self, suspect_url: str, now_ms: int, current: ServerEntry | None) -> ServerEntry | None:
        """Close the current round (all answers in, or the deadline passed).

        Returns the verdict, ``current`` (the suspect's entry in our view now)
        offline at ``its last version + 1``, once
        :attr:`SuspicionPolicy.confirmations` rounds found it unreachable
        (none cleared it); None otherwise. Merge the verdict into the view and push
        it to :attr:`SuspicionPolicy.verdict_fanout` peers.
        """
        suspicion = self._open.get(suspect_url)
        if suspicion is None or not suspicion.open:
            return None
        suspicion.open = False
        result = self.outcome(suspect_url)
        if current is None or not current.online:
            self._open.pop(suspect_url, None)
            return None
        if result is Outcome.CLEARED:
            self._open.pop(suspect_url, None)
            return None
        if result is Outcome.UNREACHABLE:
            suspicion.confirmed += 1
            if suspicion.confirmed >= self.policy.confirmations:
                self._open.pop(suspect_url, None)
                return current._replace(online=False, last_update=current.last_update + 1)
        if suspicion.rounds >= self.policy.max_rounds:
            self._open.pop(suspect_url, None)
        return None

    def contact(self, url: str) -> None:
        """This server and ``url`` just exchanged directly (``url`` gossiped to
        us, or answered one of our calls): it is alive, the suspicion is over.

        A newer ``lastUpdate`` heard second-hand is not enough: a crashed
        server's last heartbeats keep spreading for about log N rounds after
        the crash (measured with ``bench/fast_detection.py``), and a verdict
        at ``last version + 1`` is refuted by any later heartbeat anyway."""
        self._open.pop(url, None)

    def due(
        self,
        now_ms: int,
        view: Mapping[str, ServerEntry],
        online_peers: Sequence[ServerEntry],
        rng: random.Random,
        healthy: bool,
    ) -> list[tuple[ServerEntry, list[ServerEntry]]]:
        """Called on every tick: drop suspicions the view settled (the
        suspect offline already, or forgotten) and, if this server is healthy,
        start the next round of each suspicion that waited at least
        :attr:`SuspicionPolicy.min_gap_ms`: ``(suspect, witnesses)`` pairs.
        An unhealthy server drops its suspicions (the timeout decides)."""
        for url in [u for u, t in self._last_round.items() if now_ms - t >= self.policy.min_gap_ms]:
            if url not in self._open:
                del self._last_round[url]
        rounds: list[tuple[ServerEntry, list[ServerEntry]]] = []
        for url, suspicion in list(self._open.items()):
            entry = view.get(url)
            if entry is None or not entry.online or not healthy:
                del self._open[url]
                continue
            if suspicion.open or now_ms - self._last_round.get(url, 0) < self.policy.min_gap_ms:
                continue
            witnesses = self._begin_round(url, suspicion, now_ms, online_peers, rng)
            if witnesses:
                rounds.append((entry, witnesses))
        return rounds
