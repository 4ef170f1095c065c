from __future__ import annotations

import random
from collections import Counter

from flask_clustershazbot.protocol.model import ServerEntry
from flask_clustershazbot.protocol.peers import PeerBackoff, choose_partner, offline_probe_probability

MONITOR = ServerEntry("http://monitor/", True, 1, True)
OTHERS = [ServerEntry(f"http://s{i}/", False, 1, True) for i in range(9)]
PEERS = [MONITOR, *OTHERS]


def draw(n: int, preference: float, backoff: PeerBackoff | None = None) -> Counter[str]:
    rng = random.Random(7)
    backoff = backoff or PeerBackoff(base=1, limit=8)
    picks: Counter[str] = Counter()
    for _ in range(n):
        partner = choose_partner(PEERS, rng, preference, backoff, mono=0.0)
        assert partner is not None
        picks[partner.base_url] += 1
    return picks


def test_monitors_are_preferred_but_never_the_only_partners() -> None:
    picks = draw(4000, 0.5)
    monitor_share = picks[MONITOR.base_url] / 4000
    # 0.5 from the monitor draw + 0.5 * 1/10 from the uniform draw
    assert 0.50 < monitor_share < 0.60
    assert all(picks[p.base_url] > 100 for p in OTHERS)


def test_no_preference_is_uniform() -> None:
    picks = draw(5000, 0.0)
    assert all(350 < picks[p.base_url] < 650 for p in PEERS)


def test_unreachable_monitor_does_not_stop_gossip_with_the_rest() -> None:
    backoff = PeerBackoff(base=10, limit=80)
    backoff.record_failure(MONITOR.base_url, mono=0.0)
    picks = draw(4000, 1.0, backoff)
    assert picks[MONITOR.base_url] < 4000 * 0.05  # a less likely partner, not none
    assert sum(picks[p.base_url] for p in OTHERS) > 4000 * 0.95


def test_backoff_expires_and_success_clears_it() -> None:
    backoff = PeerBackoff(base=2, limit=5)
    backoff.record_failure("http://x/", mono=0.0)
    assert backoff.is_penalized("http://x/", 1.0) and not backoff.is_penalized("http://x/", 2.5)
    for _ in range(5):
        backoff.record_failure("http://x/", mono=0.0)
    assert backoff.is_penalized("http://x/", 4.9) and not backoff.is_penalized("http://x/", 5.1)
    backoff.record_success("http://x/")
    assert not backoff.is_penalized("http://x/", 0.1)


def test_no_peers_no_partner() -> None:
    assert choose_partner([], random.Random(1), 0.5, PeerBackoff(base=1, limit=1), 0.0) is None


def test_offline_probes_keep_cluster_load_constant() -> None:
    assert offline_probe_probability(3) == 1.0
    assert offline_probe_probability(300) * 300 == 3.0
    assert offline_probe_probability(0) == 1.0
