"""ClusterNode on an in-memory network: backoff, leave fan-out, announce,
spread, failure detection and refutation, in milliseconds and without
sockets. Every clock, the transport, the master list and the randomness enter
through the node's constructor."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from flask_clustershazbot.errors import MasterListError
from flask_clustershazbot.node import ClusterNode
from flask_clustershazbot.protocol.model import ServerEntry
from flask_clustershazbot.protocol.tick import SHUTDOWN_FANOUT

from ..support.manual_clock import ManualClock
from ..support.memory_master_list import MemoryMasterList
from ..support.memory_network import Fault, MemoryNetwork, memory_config

INTERVAL = 1.0
FAILURE_TIMEOUT = 10.0


class Cluster:
    """Nodes on one memory network, one manual clock and one master list."""

    def __init__(self) -> None:
        self.net = MemoryNetwork()
        self.clock = ManualClock()
        self.master = MemoryMasterList()
        self._seeds = 0

    def add(self, name: str, *, monitor: bool = False) -> ClusterNode:
        url = f"http://{name}.test/"
        config = memory_config(url, gossip_interval=INTERVAL, failure_timeout=FAILURE_TIMEOUT, monitor=monitor)
        self._seeds += 1
        node = ClusterNode(
            config,
            transport=self.net.transport(url),
            master_list=self.master,
            wall_ms=self.clock.wall_ms,
            monotonic=self.clock.monotonic,
            rng=random.Random(self._seeds),
        )
        return self.net.register(node)

    def introduce(self, *nodes: ClusterNode) -> None:
        """Every node reads a master list that lists them all."""
        self.master.entries = [n.own_entry() for n in nodes]
        for node in nodes:
            node.load_master_list()


def entry_of(node: ClusterNode, url: str) -> ServerEntry:
    return next(e for e in node.entries() if e.base_url == url)


def counters(node: ClusterNode) -> dict[str, int]:
    return node.stats.totals()[0]


def partners(net: MemoryNetwork, sender: ClusterNode) -> Counter[str]:
    return Counter(d.receiver for d in net.sent(sender=sender.config.base_url))


@pytest.fixture
def cluster() -> Cluster:
    return Cluster()


# -- backoff -----------------------------------------------------------------


def test_a_failing_peer_is_chosen_less_often_and_retried_after_the_backoff_limit(cluster: Cluster) -> None:
    x, a, b = cluster.add("x"), cluster.add("a"), cluster.add("b")
    cluster.introduce(x, a, b)
    cluster.net.fault(x.config.base_url, a.config.base_url, Fault.REFUSE)
    for _ in range(200):  # the clock stands still: a's penalty never runs out
        x.gossip_tick()
    chosen = partners(cluster.net, x)
    assert chosen[a.config.base_url] < 40 < chosen[b.config.base_url]  # about 1 in 11, not 1 in 2
    assert counters(x)["exchanges_failed_connection"] == chosen[a.config.base_url]
    # However many failures in a row, the penalty ends after the backoff
    # limit (8 intervals): a healed peer is then a partner like any other.
    assert x.policy.backoff_limit == 8 * INTERVAL
    cluster.net.heal()
    cluster.clock.advance(8 * INTERVAL)
    cluster.net.deliveries.clear()
    for _ in range(200):
        x.gossip_tick()
    assert 70 < partners(cluster.net, x)[a.config.base_url] < 130


def test_a_successful_exchange_ends_the_backoff_at_once(cluster: Cluster) -> None:
    x, a, b = cluster.add("x"), cluster.add("a"), cluster.add("b")
    cluster.introduce(x, a, b)
    cluster.net.fault(x.config.base_url, a.config.base_url, Fault.TIMEOUT)
    assert x.exchange_with(a.config.base_url, x.encode(x.entries())) is False
    assert counters(x)["exchanges_failed_timeout"] == 1
    cluster.net.heal()
    assert x.exchange_with(a.config.base_url, x.encode(x.entries())) is True
    for _ in range(200):
        x.gossip_tick()
    assert 70 < partners(cluster.net, x)[a.config.base_url] < 130


# -- leave -------------------------------------------------------------------


def test_leave_tells_monitors_first_and_moves_on_when_one_fails(cluster: Cluster) -> None:
    x, monitor = cluster.add("x"), cluster.add("m", monitor=True)
    others = [cluster.add(f"p{i}") for i in range(4)]
    cluster.introduce(x, monitor, *others)
    cluster.net.fault(x.config.base_url, monitor.config.base_url, Fault.REFUSE)
    before = x.own_entry()

    x.leave(write_master_list=False)

    own = x.own_entry()
    assert not own.online and own.last_update > before.last_update
    goodbyes = cluster.net.sent(sender=x.config.base_url)
    assert {d.receiver for d in goodbyes if not d.ok} == {monitor.config.base_url}
    told = [d.receiver for d in goodbyes if d.ok]
    assert len(told) == SHUTDOWN_FANOUT and len(goodbyes) == SHUTDOWN_FANOUT + 1
    # A goodbye carries the leaving server's own entry alone.
    assert all(d.entries == (own,) for d in goodbyes)
    for peer in others:
        heard = peer.config.base_url in told
        assert entry_of(peer, x.config.base_url).online is not heard
    assert counters(x)["exchanges_failed_connection"] == 1


def test_leave_tries_every_peer_once_when_all_fail(cluster: Cluster) -> None:
    x, a, b = cluster.add("x"), cluster.add("a"), cluster.add("b")
    cluster.introduce(x, a, b)
    cluster.net.isolate(a.config.base_url, Fault.DROP)
    cluster.net.isolate(b.config.base_url, Fault.REFUSE)
    x.leave(write_master_list=False)
    assert sorted(partners(cluster.net, x).items()) == [(a.config.base_url, 1), (b.config.base_url, 1)]
    assert entry_of(a, x.config.base_url).online and entry_of(b, x.config.base_url).online


def test_leave_writes_the_offline_entry_to_the_master_list_when_asked(cluster: Cluster) -> None:
    x, a = cluster.add("x"), cluster.add("a")
    cluster.introduce(x, a)
    x.leave(write_master_list=True)
    assert cluster.master.entry(x.config.base_url) == x.own_entry()
    assert not x.own_entry().online


# -- announce ----------------------------------------------------------------


def test_announce_merges_the_own_entry_into_the_stored_list(cluster: Cluster) -> None:
    stranger = ServerEntry("http://stranger.test/", False, cluster.clock.wall_ms() - 5000, True)
    cluster.master.entries = [stranger]
    x = cluster.add("x")
    cluster.clock.advance(1)
    x.gossip_tick()  # a heartbeat: a newer own entry than at start
    x.announce()
    assert sorted(cluster.master.entries) == sorted([stranger, x.own_entry()])
    assert stranger in x.entries()  # what the list held is merged into the view too
    assert counters(x)["master_list_writes"] == 1


def test_a_failed_announce_raises_and_is_counted(cluster: Cluster) -> None:
    x = cluster.add("x")
    cluster.master.failing = MasterListError("the store is down")
    with pytest.raises(MasterListError):
        x.announce()
    assert counters(x)["master_list_write_failures"] == 1
    assert cluster.master.writes == 0


# -- spread ------------------------------------------------------------------


def test_a_drain_is_pushed_to_one_peer_at_once(cluster: Cluster) -> None:
    x, a, b = cluster.add("x"), cluster.add("a"), cluster.add("b")
    cluster.introduce(x, a, b)
    assert x.set_online(False)
    x.spread()
    (push,) = cluster.net.sent(sender=x.config.base_url)
    receiver = a if push.receiver == a.config.base_url else b
    assert entry_of(receiver, x.config.base_url) == x.own_entry()
    assert not x.own_entry().online


def test_spread_without_an_online_peer_sends_nothing(cluster: Cluster) -> None:
    x = cluster.add("x")
    x.spread()
    assert cluster.net.sent() == []


# -- failure detection and refutation ----------------------------------------


def test_a_silent_peer_is_declared_offline_after_the_failure_timeout(cluster: Cluster) -> None:
    x, a = cluster.add("x"), cluster.add("a")
    cluster.introduce(x, a)
    last_heard = entry_of(x, a.config.base_url)
    cluster.net.unregister(a.config.base_url)  # a crashes
    for _ in range(int(FAILURE_TIMEOUT) - 1):
        cluster.clock.advance(INTERVAL)
        x.gossip_tick()
    assert entry_of(x, a.config.base_url).online  # not before the timeout
    cluster.clock.advance(INTERVAL)
    x.gossip_tick()
    # Offline with the last version + 1: dominates the stale online entry
    # everywhere, yet loses to any fresh heartbeat of a.
    assert entry_of(x, a.config.base_url) == last_heard._replace(online=False, last_update=last_heard.last_update + 1)
    assert counters(x)["failures_detected"] == 1


def test_a_server_refutes_a_claim_that_it_is_offline(cluster: Cluster) -> None:
    x, a = cluster.add("x"), cluster.add("a")
    cluster.introduce(x, a)
    own = x.own_entry()
    rumour = own._replace(online=False, last_update=own.last_update + 1)
    a.receive_gossip([rumour], "a failure detector elsewhere")
    assert not entry_of(a, x.config.base_url).online
    a.gossip_tick()  # x is a's only peer, offline there: a probes it
    refuted = x.own_entry()
    assert refuted.online and refuted.last_update > rumour.last_update
    assert counters(x)["refutations"] == 1
    assert entry_of(a, x.config.base_url) == refuted  # the answer carried the refutation back
