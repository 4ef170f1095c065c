"""Fast failure detection in the server's own code (ClusterNode with its
FastDetector) on an in-memory network: a crash is confirmed by witnesses and
spread within a few ticks, while one broken link, a server whose own calls
fail, or witnesses without the probe endpoint never produce a verdict.
docs/protocol.md section 8.4."""

from __future__ import annotations

import random

from flask_clustershazbot.node import ClusterNode

from ..support.manual_clock import ManualClock
from ..support.memory_master_list import MemoryMasterList
from ..support.memory_network import Fault, MemoryNetwork, memory_config

INTERVAL = 1.0
#: Long, so that only the fast path can detect within the tests' rounds.
FAILURE_TIMEOUT = 600.0


class Cluster:
    def __init__(self, size: int, probes: int = 3, seed: int = 0) -> None:
        self.net = MemoryNetwork()
        self.clock = ManualClock()
        self.master = MemoryMasterList()
        self.nodes: list[ClusterNode] = []
        for i in range(size):
            url = f"http://s{i}.test/"
            config = memory_config(
                url, gossip_interval=INTERVAL, failure_timeout=FAILURE_TIMEOUT, indirect_probes=probes
            )
            node = ClusterNode(
                config,
                transport=self.net.transport(url),
                master_list=self.master,
                wall_ms=self.clock.wall_ms,
                monotonic=self.clock.monotonic,
                rng=random.Random(seed * 1000 + i),
            )
            self.nodes.append(self.net.register(node))
        self.master.entries = [n.own_entry() for n in self.nodes]
        for node in self.nodes:
            node.load_master_list()

    def round(self, nodes: list[ClusterNode] | None = None) -> None:
        """One interval: every node ticks, and its probe rounds finish."""
        self.clock.advance(INTERVAL)
        for node in nodes if nodes is not None else self.nodes:
            node.gossip_tick()
            assert node.detector.wait_idle(10), "a probe round did not finish"

    def offline_at(self, url: str, nodes: list[ClusterNode]) -> list[str]:
        """The nodes among ``nodes`` that list ``url`` offline."""
        return [n.config.base_url for n in nodes if any(e.base_url == url and not e.online for e in n.entries())]


def counter(node: ClusterNode, name: str) -> int:
    return node.stats.totals()[0].get(name, 0)


def test_a_crash_is_offline_everywhere_within_a_few_rounds_not_the_timeout() -> None:
    cluster = Cluster(8)
    for _ in range(3):
        cluster.round()
    victim, rest = cluster.nodes[0], cluster.nodes[1:]
    cluster.net.unregister(victim.config.base_url)
    rounds = 0
    while len(cluster.offline_at(victim.config.base_url, rest)) < len(rest):
        rounds += 1
        assert rounds <= 15, f"after 15 rounds only {cluster.offline_at(victim.config.base_url, rest)}"
        cluster.round(rest)
    assert sum(counter(n, "failures_detected_by_probes") for n in rest) >= 1


def test_with_indirect_probes_off_only_the_timeout_detects() -> None:
    cluster = Cluster(8, probes=0)
    for _ in range(3):
        cluster.round()
    victim, rest = cluster.nodes[0], cluster.nodes[1:]
    cluster.net.unregister(victim.config.base_url)
    for _ in range(15):
        cluster.round(rest)
    assert cluster.offline_at(victim.config.base_url, rest) == []
    assert all(counter(n, "probe_requests_sent") == 0 for n in rest)


def test_one_broken_link_never_gets_a_live_server_declared_offline() -> None:
    cluster = Cluster(6)
    for _ in range(3):
        cluster.round()
    a, b = cluster.nodes[0], cluster.nodes[1]
    cluster.net.fault(a.config.base_url, b.config.base_url, Fault.REFUSE)
    for _ in range(40):
        cluster.round()
    assert cluster.offline_at(b.config.base_url, cluster.nodes) == []
    # a did suspect b, and the witnesses cleared it.
    assert counter(a, "probe_rounds_cleared") >= 1


def test_a_server_whose_own_calls_all_fail_accuses_nobody() -> None:
    cluster = Cluster(6)
    for _ in range(3):
        cluster.round()
    mute = cluster.nodes[0]
    for other in cluster.nodes[1:]:
        cluster.net.fault(mute.config.base_url, other.config.base_url, Fault.REFUSE)
    for _ in range(40):
        cluster.round()
    for other in cluster.nodes[1:]:
        assert cluster.offline_at(other.config.base_url, cluster.nodes) == []
    # The others still hear from the mute server (it answers), so it stays online too.
    assert cluster.offline_at(mute.config.base_url, cluster.nodes) == []


def test_witnesses_without_the_probe_endpoint_leave_it_to_the_timeout() -> None:
    cluster = Cluster(6)
    for _ in range(3):
        cluster.round()
    victim, rest = cluster.nodes[0], cluster.nodes[1:]
    # Every probe question is lost (as with peers that answer 404 or 405).
    for asker in rest:
        for witness in rest:
            if asker is not witness:
                cluster.net.fault_probes(asker.config.base_url, witness.config.base_url)
    cluster.net.unregister(victim.config.base_url)
    for _ in range(15):
        cluster.round(rest)
    assert cluster.offline_at(victim.config.base_url, rest) == []
    assert sum(counter(n, "probe_rounds_undecided") for n in rest) >= 1


def test_a_suspect_that_hears_the_verdict_refutes_it() -> None:
    cluster = Cluster(6)
    for _ in range(3):
        cluster.round()
    victim, rest = cluster.nodes[0], cluster.nodes[1:]
    cluster.net.unregister(victim.config.base_url)
    rounds = 0
    while not cluster.offline_at(victim.config.base_url, rest):
        rounds += 1
        assert rounds <= 15
        cluster.round(rest)
    cluster.net.register(victim)  # it was only unreachable, and is back
    rounds = 0
    while cluster.offline_at(victim.config.base_url, cluster.nodes):
        rounds += 1
        assert rounds <= 15, "the verdict was never refuted"
        cluster.round()


def test_a_leaving_server_starts_no_round_and_gives_no_verdict() -> None:
    cluster = Cluster(6)
    for _ in range(3):
        cluster.round()
    victim, rest = cluster.nodes[0], cluster.nodes[1:]
    cluster.net.unregister(victim.config.base_url)
    for node in rest:
        node.detector.close(timeout=5)
    for _ in range(10):
        cluster.round(rest)
    assert cluster.offline_at(victim.config.base_url, rest) == []
    assert all(counter(n, "probe_rounds") == 0 for n in rest)


def test_a_witness_whose_loop_stopped_abstains() -> None:
    cluster = Cluster(4)
    for _ in range(3):
        cluster.round()
    witness, suspect = cluster.nodes[1], cluster.nodes[2]
    cluster.net.unregister(suspect.config.base_url)
    assert witness.detector.witness(suspect.config.base_url) is False
    # No tick for more than three intervals: it no longer knows it is healthy.
    cluster.clock.advance(4 * INTERVAL)
    assert witness.detector.witness(suspect.config.base_url) is None
