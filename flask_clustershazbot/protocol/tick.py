"""What one gossip tick decides, whom a leaving server tells and whom a
change is spread to. Pure: the server (``ClusterNode``) and the simulator
(``bench/sim.py``) both call these, then do the exchanges."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .membership import Membership, default_failure_timeout
from .model import ServerEntry
from .peers import PeerBackoff, choose_partner, offline_probe_probability

__all__ = [
    "TickPolicy",
    "TickPlan",
    "plan_tick",
    "goodbye_order",
    "begin_leave",
    "GoodbyeFanout",
    "spread_partner",
    "SHUTDOWN_FANOUT",
    "BACKOFF_LIMIT_INTERVALS",
]

#: How many peers a leaving server tells directly (monitors first).
SHUTDOWN_FANOUT = 3

#: A peer whose exchanges keep failing is penalized for at most this many
#: gossip intervals (the backoff doubles from one interval up to this).
BACKOFF_LIMIT_INTERVALS = 8


@dataclass(frozen=True)
class TickPolicy:
    """The timing and choice settings one server's ticks follow."""

    gossip_interval: float
    monitor_preference: float = 0.5
    #: None: derived from the cluster size (:func:`default_failure_timeout`).
    failure_timeout: float | None = None

    def timeout_for(self, cluster_size: int) -> float:
        """Seconds of silence after which a peer is declared offline."""
        if self.failure_timeout is not None:
            return self.failure_timeout
        return default_failure_timeout(self.gossip_interval, cluster_size)

    @property
    def backoff_limit(self) -> float:
        """Longest penalty, in seconds, of a peer whose exchanges keep failing."""
        return BACKOFF_LIMIT_INTERVALS * self.gossip_interval

    def new_backoff(self) -> PeerBackoff:
        """Fresh backoff state for one server: one interval first, doubling
        up to :attr:`backoff_limit`."""
        return PeerBackoff(base=self.gossip_interval, limit=self.backoff_limit)


@dataclass
class TickPlan:
    """What one tick decided: verdicts, forgotten entries and whom to contact."""

    timeout: float
    failed: list[ServerEntry] = field(default_factory=list)
    #: Forgotten: last update older than the retention.
    forgotten: list[str] = field(default_factory=list)
    #: Forgotten: dated more than the skew limit ahead of this server's clock
    #: (accepted while its clock was ahead; docs/protocol.md section 4).
    forgotten_future: list[str] = field(default_factory=list)
    partner: ServerEntry | None = None
    probe: ServerEntry | None = None
    #: The online peers the partner was chosen from (after the failure pass).
    online_peers: list[ServerEntry] = field(default_factory=list)
    #: This tick came so long after the last one that this process must have
    #: been paused: it listens again before it declares anyone offline.
    paused: bool = False

    @property
    def targets(self) -> list[ServerEntry]:
        """The peers to exchange with this tick: the partner, then the probe."""
        return [t for t in (self.partner, self.probe) if t is not None]


def plan_tick(
    membership: Membership,
    now_ms: int,
    mono: float,
    rng: random.Random,
    backoff: PeerBackoff,
    policy: TickPolicy,
) -> TickPlan:
    """Heartbeat, forget entries the view would no longer accept, expire
    silent peers, then choose one online partner and, now and then, one
    offline peer to probe."""
    membership.heartbeat(now_ms)
    # Before detection: an entry about to be forgotten earns no verdict.
    forgotten_future = membership.forget_future(now_ms)
    plan = TickPlan(timeout=policy.timeout_for(len(membership.entries)), forgotten_future=forgotten_future)
    # A gap this long between two ticks means this process was paused.
    pause_after = max(plan.timeout / 2, 3 * policy.gossip_interval)
    last = membership.last_detection
    plan.paused = last is not None and mono - last > pause_after
    plan.failed = membership.detect_failures(mono, plan.timeout, pause_after)
    plan.forgotten = membership.cleanup(now_ms)
    if plan.forgotten or plan.forgotten_future:
        backoff.forget_except(set(membership.entries))
    plan.online_peers = membership.online_peers()
    plan.partner = choose_partner(plan.online_peers, rng, policy.monitor_preference, backoff, mono)
    offline = membership.offline_peers()
    if offline and rng.random() < offline_probe_probability(membership.online_count()):
        plan.probe = rng.choice(offline)
    return plan


def goodbye_order(membership: Membership, rng: random.Random) -> list[ServerEntry]:
    """Online peers in the order a leaving server tries them: monitors first,
    each group shuffled. The caller stops after SHUTDOWN_FANOUT successes."""
    peers = membership.online_peers()
    rng.shuffle(peers)
    peers.sort(key=lambda p: not p.monitor)
    return peers


def begin_leave(membership: Membership, now_ms: int, rng: random.Random) -> list[ServerEntry]:
    """A server leaves: its own entry goes offline with a new version, and
    the peers to tell come back in :func:`goodbye_order`."""
    membership.set_online(False, now_ms)
    return goodbye_order(membership, rng)


@dataclass
class GoodbyeFanout:
    """Whom a leaving server tells, and when it is done: peers are tried in
    order, up to ``fanout`` at a time, the next one started when one fails,
    until ``fanout`` have heard it or none is left.

    The caller does the exchanges (in parallel in a server, one after the
    other in the simulator) and reports each result to :meth:`record`.
    """

    peers: list[ServerEntry]
    fanout: int = SHUTDOWN_FANOUT
    #: Peers that have heard the goodbye.
    told: int = 0
    #: Peers started and not yet recorded.
    in_flight: int = 0
    _next: int = 0

    def start(self) -> list[ServerEntry]:
        """The peers to contact now (none once enough are told or in flight)."""
        started = []
        while self.told + self.in_flight < self.fanout and self._next < len(self.peers):
            started.append(self.peers[self._next])
            self._next += 1
            self.in_flight += 1
        return started

    def record(self, told: bool) -> None:
        """One started peer answered (``told``) or failed."""
        self.in_flight -= 1
        self.told += told

    @property
    def done(self) -> bool:
        """Enough peers heard it, or no call is left to wait for."""
        return self.told >= self.fanout or not self.in_flight


def spread_partner(
    membership: Membership, rng: random.Random, policy: TickPolicy, backoff: PeerBackoff, mono: float
) -> ServerEntry | None:
    """The peer a change of this server (a drain or a return) is pushed to at
    once, chosen like a tick's partner; None when no peer is online."""
    return choose_partner(membership.online_peers(), rng, policy.monitor_preference, backoff, mono)
