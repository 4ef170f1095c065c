"""Choosing whom to gossip with (docs/protocol.md sections 5 and 6). Pure.

Bias: with probability ``monitor_preference`` a tick's partner is drawn from
the online monitors other than self that have not failed recently; otherwise,
or when there is no such monitor, from all online peers. So non-monitors are
still chosen regularly (at the default 0.5, at least half of all ticks draw
from everyone) and a server whose monitors are all unreachable keeps gossiping
with the rest.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from .model import ServerEntry

__all__ = ["PeerBackoff", "choose_partner", "offline_probe_probability", "PENALIZED_WEIGHT"]

#: Relative chance of drawing a peer whose last exchange failed, while it backs off.
PENALIZED_WEIGHT = 0.1


@dataclass
class PeerBackoff:
    """Peers whose last direct exchange failed are less likely partners for a while.

    A failure never marks a peer offline by itself: only the missing heartbeat
    does (failure detection), so one flaky link does not evict a server.
    """

    base: float
    limit: float
    failures: dict[str, int] = field(default_factory=dict)
    until: dict[str, float] = field(default_factory=dict)

    def record_failure(self, url: str, mono: float) -> None:
        count = self.failures.get(url, 0) + 1
        self.failures[url] = count
        self.until[url] = mono + min(self.base * 2 ** (count - 1), self.limit)

    def record_success(self, url: str) -> None:
        self.failures.pop(url, None)
        self.until.pop(url, None)

    def is_penalized(self, url: str, mono: float) -> bool:
        return self.until.get(url, 0.0) > mono

    def forget_except(self, known: set[str]) -> None:
        for url in [u for u in self.failures if u not in known]:
            self.record_success(url)


def choose_partner(
    peers: Sequence[ServerEntry],
    rng: random.Random,
    monitor_preference: float,
    backoff: PeerBackoff,
    mono: float,
) -> ServerEntry | None:
    """One online peer to gossip with (``peers`` must exclude self)."""
    if not peers:
        return None
    if rng.random() < monitor_preference:
        monitors = [p for p in peers if p.monitor and not backoff.is_penalized(p.base_url, mono)]
        if monitors:
            return rng.choice(monitors)
    weights = [PENALIZED_WEIGHT if backoff.is_penalized(p.base_url, mono) else 1.0 for p in peers]
    return rng.choices(peers, weights=weights, k=1)[0]


def offline_probe_probability(online_count: int) -> float:
    """Chance that a tick also tries one offline peer.

    ``3 / N`` (as in ringpop) keeps the cluster-wide number of probes near three
    per round; a small side of a partition probes every round, so the two
    sides find each other soon after a heal.
    """
    return min(1.0, 3.0 / max(online_count, 1))
