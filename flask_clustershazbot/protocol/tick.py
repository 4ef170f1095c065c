"""What one gossip tick decides, and whom a leaving server tells. Pure: the
server's loop and the simulator both call these, then do the exchanges."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .membership import Membership, default_failure_timeout
from .model import ServerEntry
from .peers import PeerBackoff, choose_partner, offline_probe_probability

__all__ = ["TickPolicy", "TickPlan", "plan_tick", "goodbye_order", "SHUTDOWN_FANOUT"]

#: How many peers a leaving server tells directly (monitors first).
SHUTDOWN_FANOUT = 3


@dataclass(frozen=True)
class TickPolicy:
    gossip_interval: float
    monitor_preference: float = 0.5
    #: None: derived from the cluster size (:func:`default_failure_timeout`).
    failure_timeout: float | None = None

    def timeout_for(self, cluster_size: int) -> float:
        if self.failure_timeout is not None:
            return self.failure_timeout
        return default_failure_timeout(self.gossip_interval, cluster_size)


@dataclass
class TickPlan:
    timeout: float
    failed: list[ServerEntry] = field(default_factory=list)
    #: Forgotten: last update older than the retention.
    forgotten: list[str] = field(default_factory=list)
    #: Forgotten: dated more than the skew limit ahead of this server's clock
    #: (accepted while its clock was ahead; docs/protocol.md section 4).
    forgotten_future: list[str] = field(default_factory=list)
    partner: ServerEntry | None = None
    probe: ServerEntry | None = None

    @property
    def targets(self) -> list[ServerEntry]:
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
    plan.failed = membership.detect_failures(mono, plan.timeout, pause_after)
    plan.forgotten = membership.cleanup(now_ms)
    if plan.forgotten or plan.forgotten_future:
        backoff.forget_except(set(membership.entries))
    plan.partner = choose_partner(membership.online_peers(), rng, policy.monitor_preference, backoff, mono)
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
