"""The gossip loop drives a node on an in-memory network: no sockets, its
own scheduler thread, every wait bounded by a deadline."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

from flask_clustershazbot.errors import MasterListError
from flask_clustershazbot.loop import GossipLoop
from flask_clustershazbot.node import ClusterNode
from flask_clustershazbot.protocol.model import ServerEntry

from ..support.memory_master_list import MemoryMasterList
from ..support.memory_network import MemoryNetwork, memory_config
from ..support.waiting import wait_until


def make_node(net: MemoryNetwork, master: MemoryMasterList, name: str, announce_every: float = 0.05) -> ClusterNode:
    url = f"http://{name}.test/"
    config = memory_config(
        url, gossip_interval=0.05, master_announce_minimum=announce_every, master_announce_interval=announce_every
    )
    node = ClusterNode(config, transport=net.transport(url), master_list=master, rng=random.Random(name))
    return net.register(node)


@contextmanager
def running(node: ClusterNode) -> Iterator[GossipLoop]:
    loop = GossipLoop(node, rng=random.Random(0))
    loop.start()
    try:
        yield loop
    finally:
        loop.stop()


def urls(node: ClusterNode) -> set[str]:
    return {e.base_url for e in node.entries()}


def test_a_started_loop_meets_the_master_lists_servers_and_keeps_announcing() -> None:
    net, master = MemoryNetwork(), MemoryMasterList()
    x, a = make_node(net, master, "x"), make_node(net, master, "a")
    master.entries = [a.own_entry()]
    with running(x):
        # x reads the list, then gossips: a hears of x without a loop of its own.
        wait_until(lambda: x.config.base_url in urls(a), timeout=10, what="a to hear from x")
        wait_until(lambda: master.writes >= 2, timeout=10, what="x to announce again and again")
        assert master.entry(x.config.base_url) is not None


def test_the_bootstrap_is_retried_until_the_master_list_can_be_read() -> None:
    net, master = MemoryNetwork(), MemoryMasterList()
    x = make_node(net, master, "x", announce_every=3600)  # only the bootstrap reads the list
    stranger = ServerEntry("http://stranger.test/", False, x.own_entry().last_update, True)
    master.entries = [stranger]
    master.failing = MasterListError("the store is down")
    with running(x):
        wait_until(lambda: x.stats.totals()[0].get("master_list_read_failures"), timeout=10, what="a failed read")
        assert stranger.base_url not in urls(x)
        master.failing = None
        wait_until(lambda: stranger.base_url in urls(x), timeout=10, what="the retried read")
