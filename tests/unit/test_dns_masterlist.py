"""DNS master-list sources without a resolver: URL parsing, records to base
URLs, and a node that meets the servers DNS names (never merging what DNS
gives as entries, never writing). The resolver enters through the store's
``lookup`` parameter; nodes talk over the in-memory network."""

from __future__ import annotations

import random

import pytest

from flask_clustershazbot.errors import MasterListError
from flask_clustershazbot.masterlist.core import is_writable
from flask_clustershazbot.masterlist.dns import SEED_LAST_UPDATE, DnsMasterList
from flask_clustershazbot.masterlist.location import DnsLocation, is_dns_url, parse_dns_url
from flask_clustershazbot.node import ClusterNode
from flask_clustershazbot.protocol.model import ServerEntry

from ..support.manual_clock import ManualClock
from ..support.memory_master_list import MemoryMasterList
from ..support.memory_network import MemoryNetwork, memory_config


class FakeLookup:
    """Records the test sets, and every lookup made (with its timeout)."""

    def __init__(self) -> None:
        self.a: dict[str, list[str]] = {}
        self.srv: dict[str, list[tuple[str, int]]] = {}
        self.lookups: list[tuple[str, str, float]] = []
        self.fail: MasterListError | None = None

    def addresses(self, name: str, timeout: float) -> list[str]:
        self.lookups.append(("A/AAAA", name, timeout))
        if self.fail is not None:
            raise self.fail
        return list(self.a.get(name, []))

    def services(self, name: str, timeout: float) -> list[tuple[str, int]]:
        self.lookups.append(("SRV", name, timeout))
        if self.fail is not None:
            raise self.fail
        return list(self.srv.get(name, []))


SRV_NAME = "_http._tcp.shazbot.test"


def urls_of(entries: list[ServerEntry]) -> list[str]:
    return [entry.base_url for entry in entries]


# -- parsing -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("dns://shazbot.test:8000", DnsLocation(srv=False, name="shazbot.test", port=8000)),
        ("DNS://Shazbot.Test.:443/", DnsLocation(srv=False, name="shazbot.test", port=443)),
        ("dns+srv://_http._tcp.shazbot.default.svc.cluster.local",
         DnsLocation(srv=True, name="_http._tcp.shazbot.default.svc.cluster.local", port=None)),
    ],
)
def test_dns_urls_name_a_name_and_a_port_or_an_srv_record(url: str, expected: DnsLocation) -> None:
    assert is_dns_url(url)
    assert parse_dns_url(url) == expected


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("dns://shazbot.test", "need a port"),
        ("dns://shazbot.test:0", "from 1 to 65535"),
        ("dns://shazbot.test:http", "from 1 to 65535"),
        ("dns://bad..name:80", "valid DNS name"),
        ("dns://user:pw@shazbot.test:80", "no user name or password"),
        ("dns://shazbot.test:80/path", "no path, query or fragment"),
        ("dns+srv://shazbot.test", "_service._proto.NAME"),
        ("dns+srv://_http._tcp.shazbot.test:80", "take no port"),
        ("https://shazbot.test/", "must be dns://"),
    ],
)
def test_bad_dns_urls_are_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_dns_url(url)


def test_a_refused_dns_url_does_not_echo_a_query() -> None:
    with pytest.raises(ValueError) as refused:
        parse_dns_url("dns://shazbot.test:80/?token=hunter2")
    assert "hunter2" not in str(refused.value)


# -- records to base URLs ------------------------------------------------------


def test_every_address_becomes_a_base_url_on_the_port_with_ipv6_in_brackets() -> None:
    lookup = FakeLookup()
    lookup.a["shazbot.test"] = ["10.0.0.2", "2001:db8::7", "10.0.0.1", "10.0.0.2"]
    store = DnsMasterList("dns://shazbot.test:8000", scheme="http", timeout=2.5, lookup=lookup)
    assert store.urls() == ["http://10.0.0.1:8000/", "http://10.0.0.2:8000/", "http://[2001:db8::7]:8000/"]
    assert lookup.lookups == [("A/AAAA", "shazbot.test", 2.5)]  # bounded by the request timeout


def test_srv_targets_lose_their_final_dot_and_the_scheme_defaults_to_https() -> None:
    lookup = FakeLookup()
    lookup.srv[SRV_NAME] = [("b.shazbot.test.", 8443), ("a.shazbot.test.", 443), (".", 0)]
    store = DnsMasterList(f"dns+srv://{SRV_NAME}", timeout=1.0, lookup=lookup)
    # https on 443 is the default port, so it is left out as in every base URL.
    assert store.urls() == ["https://a.shazbot.test/", "https://b.shazbot.test:8443/"]


def test_a_name_without_records_is_a_master_list_error_naming_it() -> None:
    store = DnsMasterList(f"dns+srv://{SRV_NAME}", timeout=1.0, lookup=FakeLookup())
    with pytest.raises(MasterListError, match=f"no SRV records for {SRV_NAME}"):
        store.read()


def test_entries_from_dns_carry_no_version_and_the_store_is_never_written() -> None:
    lookup = FakeLookup()
    lookup.a["shazbot.test"] = ["10.0.0.1"]
    store = DnsMasterList("dns://shazbot.test:80", scheme="http", timeout=1.0, lookup=lookup)
    assert not is_writable(store)
    assert is_writable(MemoryMasterList())
    assert store.read() == [ServerEntry("http://10.0.0.1/", False, SEED_LAST_UPDATE, True)]
    lookup.a["shazbot.test"] = ["10.0.0.1", "10.0.0.9"]
    merged: list[list[str]] = []

    def merge(stored: list[ServerEntry]) -> list[ServerEntry]:
        merged.append(urls_of(stored))
        return [ServerEntry("http://written.test/", False, 1, True)]

    store.update(merge)  # resolved again; what merge returns goes nowhere
    assert merged == [["http://10.0.0.1/", "http://10.0.0.9/"]]
    assert urls_of(store.read()) == ["http://10.0.0.1/", "http://10.0.0.9/"]


# -- a node with a DNS source ----------------------------------------------------


class DnsCluster:
    """Nodes on one memory network and one manual clock, each finding the
    others through the same fake DNS name."""

    def __init__(self) -> None:
        self.net = MemoryNetwork()
        self.clock = ManualClock()
        self.lookup = FakeLookup()
        self._seeds = 0

    def publish(self, *names: str) -> None:
        self.lookup.srv[SRV_NAME] = [(f"{name}.test.", 80) for name in names]

    def add(self, name: str) -> ClusterNode:
        url = f"http://{name}.test/"
        self._seeds += 1
        node = ClusterNode(
            memory_config(url, gossip_interval=1.0, failure_timeout=10.0),
            transport=self.net.transport(url),
            master_list=DnsMasterList(f"dns+srv://{SRV_NAME}", scheme="http", timeout=1.0, lookup=self.lookup),
            wall_ms=self.clock.wall_ms,
            monotonic=self.clock.monotonic,
            rng=random.Random(self._seeds),
        )
        return self.net.register(node)


def online_urls(node: ClusterNode) -> set[str]:
    return {entry.base_url for entry in node.entries() if entry.online}


def test_a_node_meets_the_servers_dns_names_and_learns_their_own_entries() -> None:
    cluster = DnsCluster()
    a, b, c = cluster.add("a"), cluster.add("b"), cluster.add("c")
    cluster.publish("a", "b", "c")
    cluster.clock.advance(5.0)
    c.load_master_list()
    # c gossiped with a and b; each answered with its own entry, dated by itself.
    assert online_urls(c) == {"http://a.test/", "http://b.test/", "http://c.test/"}
    assert all(entry.last_update > SEED_LAST_UPDATE for entry in c.entries())
    assert "http://c.test/" in online_urls(a) and "http://c.test/" in online_urls(b)


def test_bootstrap_fails_while_dns_names_no_one_else_so_that_it_is_retried() -> None:
    cluster = DnsCluster()
    a = cluster.add("a")
    cluster.publish("a")
    with pytest.raises(MasterListError, match="names no other server yet"):
        a.load_master_list()
    cluster.publish("a", "gone")  # listed, but nothing answers there
    with pytest.raises(MasterListError, match="none of the 1 other server"):
        a.load_master_list()
    assert online_urls(a) == {"http://a.test/"}  # nothing DNS said entered the view


def test_announce_resolves_again_meets_a_newcomer_and_writes_nothing() -> None:
    cluster = DnsCluster()
    a, b = cluster.add("a"), cluster.add("b")
    cluster.publish("a", "b")
    a.load_master_list()
    lookups = len(cluster.lookup.lookups)
    c = cluster.add("c")
    cluster.publish("a", "b", "c")
    a.announce()
    assert len(cluster.lookup.lookups) == lookups + 1  # resolved again, not cached
    assert "http://c.test/" in online_urls(a)
    assert "http://a.test/" in online_urls(c)
    assert b.counters["master_list_writes"] == 0 and a.counters["master_list_writes"] == 0


def test_a_dead_server_still_in_dns_is_not_brought_back_online() -> None:
    cluster = DnsCluster()
    a, b = cluster.add("a"), cluster.add("b")
    cluster.publish("a", "b")
    a.load_master_list()
    cluster.net.unregister(b.config.base_url)
    for _ in range(30):  # well past the failure timeout
        cluster.clock.advance(1.0)
        a.gossip_tick()
    assert "http://b.test/" not in online_urls(a)
    a.announce()  # DNS still lists b
    assert "http://b.test/" not in online_urls(a)


def test_a_leaving_node_does_not_announce_to_a_dns_source() -> None:
    cluster = DnsCluster()
    a, _b = cluster.add("a"), cluster.add("b")
    cluster.publish("a", "b")
    a.load_master_list()
    lookups = len(cluster.lookup.lookups)
    a.leave(write_master_list=True)
    assert len(cluster.lookup.lookups) == lookups
