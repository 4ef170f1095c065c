"""The pure leave, spread and backoff decisions that a server and the
simulator share (protocol/tick.py)."""

from __future__ import annotations

import random

from flask_clustershazbot.protocol.membership import Membership
from flask_clustershazbot.protocol.model import ServerEntry
from flask_clustershazbot.protocol.tick import GoodbyeFanout, TickPolicy, begin_leave, spread_partner

NOW = 1_800_000_000_000
def new_membership() -> Membership:
    return Membership("http://self.test/", monitor=False, now_ms=NOW, retention_ms=86_400_000, max_skew_ms=300_000)


PEERS = [ServerEntry(f"http://p{i}.test/", i < 2, NOW, True) for i in range(6)]


def test_goodbye_starts_three_and_replaces_each_failure_with_the_next_peer() -> None:
    fanout = GoodbyeFanout(PEERS)
    assert fanout.start() == PEERS[:3]
    assert fanout.start() == []  # three in flight: nobody else yet
    fanout.record(False)
    assert fanout.start() == [PEERS[3]]
    for _ in range(3):
        fanout.record(True)
    assert fanout.done and fanout.told == 3
    assert fanout.start() == []  # enough peers heard it


def test_goodbye_is_done_when_the_peers_run_out() -> None:
    fanout = GoodbyeFanout(PEERS[:2])
    started = fanout.start()
    assert started == PEERS[:2] and not fanout.done
    for _ in started:
        fanout.record(False)
    assert fanout.start() == [] and fanout.done and fanout.told == 0


def test_a_leaving_server_goes_offline_with_a_new_version_and_tells_monitors_first() -> None:
    membership = new_membership()
    membership.merge(PEERS, NOW, 0.0)
    before = membership.own
    order = begin_leave(membership, NOW, random.Random(3))
    assert not membership.own.online and membership.own.last_update > before.last_update
    assert sorted(order) == sorted(PEERS)
    assert all(p.monitor for p in order[:2]) and not any(p.monitor for p in order[2:])


def test_a_change_spreads_to_an_online_peer_and_to_nobody_when_none_is() -> None:
    policy = TickPolicy(1.0)
    membership = new_membership()
    assert spread_partner(membership, random.Random(1), policy, policy.new_backoff(), 0.0) is None
    membership.merge([*PEERS[:2], PEERS[2]._replace(online=False)], NOW, 0.0)
    chosen = {spread_partner(membership, random.Random(s), policy, policy.new_backoff(), 0.0) for s in range(50)}
    assert chosen == set(PEERS[:2])


def test_the_backoff_doubles_from_one_interval_up_to_eight() -> None:
    policy = TickPolicy(gossip_interval=2.0)
    backoff = policy.new_backoff()
    penalties = []
    for _ in range(6):
        backoff.record_failure("http://p.test/", 0.0)
        penalties.append(backoff.until["http://p.test/"])
    assert penalties == [2.0, 4.0, 8.0, 16.0, 16.0, 16.0]
    assert policy.backoff_limit == 16.0
