"""Property tests of the merge rules (docs/protocol.md section 4)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from flask_clustershazbot.protocol.membership import Membership, join
from flask_clustershazbot.protocol.model import ServerEntry
from flask_clustershazbot.protocol.peers import PeerBackoff
from flask_clustershazbot.protocol.tick import TickPolicy, plan_tick

NOW = 1_800_000_000_000
RETENTION = 86_400_000
SKEW = 300_000
OBSERVER = "http://observer/"
URLS = [f"http://s{i}/" for i in range(6)]

times = st.integers(min_value=NOW - RETENTION, max_value=NOW + SKEW)
entries = st.builds(ServerEntry, st.sampled_from(URLS), st.booleans(), times, st.booleans())
views = st.lists(entries, max_size=12)


def fresh(self_url: str = OBSERVER) -> Membership:
    return Membership(self_url, monitor=False, now_ms=NOW, retention_ms=RETENTION, max_skew_ms=SKEW)


def merged(*parts: list[ServerEntry]) -> dict[str, ServerEntry]:
    membership = fresh()
    for part in parts:
        membership.merge(part, NOW, 0.0)
    return {u: e for u, e in membership.entries.items() if u != OBSERVER}


@given(views, views)
def test_merge_is_commutative(a: list[ServerEntry], b: list[ServerEntry]) -> None:
    assert merged(a, b) == merged(b, a)


@given(views, views, views)
def test_merge_is_associative(a: list[ServerEntry], b: list[ServerEntry], c: list[ServerEntry]) -> None:
    b_then_c = list(merged(b, c).values())
    assert merged(merged_list(a, b), c) == merged(a, b_then_c)


def merged_list(a: list[ServerEntry], b: list[ServerEntry]) -> list[ServerEntry]:
    return list(merged(a, b).values())


@given(views)
def test_merge_is_idempotent(a: list[ServerEntry]) -> None:
    once = merged(a)
    assert merged(a, a) == once
    assert merged(a, list(once.values())) == once


@given(views)
def test_order_within_one_message_does_not_matter(a: list[ServerEntry]) -> None:
    assert merged(a) == merged(list(reversed(a)))


@given(entries, entries)
def test_join_is_a_join(x: ServerEntry, y: ServerEntry) -> None:
    x = ServerEntry(URLS[0], x.monitor, x.last_update, x.online)
    y = ServerEntry(URLS[0], y.monitor, y.last_update, y.online)
    assert join(x, y) == join(y, x)
    assert join(x, x) == x
    winner = join(x, y)
    if x.last_update != y.last_update:
        assert winner.last_update == max(x.last_update, y.last_update)
    elif x.online != y.online:
        assert not winner.online  # on equal time, offline wins


@given(st.lists(st.builds(ServerEntry, st.just(URLS[0]), st.booleans(), times, st.booleans()), max_size=10),
       st.booleans(), st.booleans())
def test_a_server_never_adopts_a_claim_about_itself(
    claims: list[ServerEntry], drained: bool, monitor: bool
) -> None:
    me = Membership(URLS[0], monitor=monitor, now_ms=NOW, retention_ms=RETENTION, max_skew_ms=SKEW)
    if drained:
        me.set_online(False, NOW)
    before = me.own
    me.merge(claims, NOW, 0.0)
    own = me.own
    assert own.online == before.online and own.monitor == before.monitor
    assert own.last_update >= before.last_update
    for claim in claims:
        # our own version dominates every claim about us that we accepted
        assert own.last_update >= claim.last_update


@settings(max_examples=200)
@given(views, st.integers(min_value=1, max_value=10**9))
def test_entries_past_retention_or_beyond_skew_never_enter(a: list[ServerEntry], shift: int) -> None:
    stale = [ServerEntry(e.base_url, e.monitor, NOW - RETENTION - shift, e.online) for e in a]
    future = [ServerEntry(e.base_url, e.monitor, NOW + SKEW + shift, e.online) for e in a]
    membership = fresh()
    report = membership.merge(stale + future, NOW, 0.0)
    assert list(membership.entries) == [OBSERVER]
    assert len(report.dropped_stale) == len(stale) and len(report.dropped_future) == len(future)
    # and never displace a valid entry either
    membership.merge(a, NOW, 0.0)
    before = dict(membership.entries)
    membership.merge(stale + future, NOW, 0.0)
    assert membership.entries == before


# -- clock steps (docs/protocol.md section 4, "Clock steps") ------------------

#: Clock readings from two days back to two days ahead: steps both ways, far
#: beyond the skew limit as well as within it.
clock = st.integers(min_value=NOW - 2 * RETENTION, max_value=NOW + 2 * RETENTION)


def housekeeping(membership: Membership, now: int) -> None:
    """What every gossip tick does before choosing a partner."""
    plan_tick(membership, now, 0.0, random.Random(0), PeerBackoff(1, 8), TickPolicy(1.0, failure_timeout=1e9))


@settings(max_examples=300)
@given(views, views, clock, clock)
def test_after_the_clock_moves_a_view_holds_what_it_would_accept(
    a: list[ServerEntry], b: list[ServerEntry], before: int, after: int
) -> None:
    """Whatever the clock did between two merges, a view that re-hears the same
    gossip ends up where a view that heard it only at the new time is: nothing
    it holds from the old time blocks an entry it would accept now."""
    old = fresh()
    old.merge([shift(e, before) for e in a + b], before, 0.0)
    housekeeping(old, after)
    for entry in old.entries.values():
        if entry.base_url != OBSERVER:
            assert after - RETENTION <= entry.last_update <= after + SKEW
    old.merge([shift(e, before) for e in a + b], after, 0.0)
    new = fresh()
    new.merge([shift(e, before) for e in a + b], after, 0.0)
    assert {u: e for u, e in old.entries.items() if u != OBSERVER} == {
        u: e for u, e in new.entries.items() if u != OBSERVER
    }


def shift(entry: ServerEntry, now: int) -> ServerEntry:
    """``entry`` as gossiped by servers whose clocks read ``now`` (the strategy
    draws times around NOW)."""
    return entry._replace(last_update=entry.last_update - NOW + now)


own_changes = st.lists(
    st.tuples(
        st.sampled_from(["heartbeat", "drain", "return", "claim"]), clock, st.booleans(), st.integers(-SKEW, SKEW)
    ),
    min_size=1, max_size=12,
)


@settings(max_examples=300)
@given(own_changes, st.booleans())
def test_own_version_is_always_one_peers_accept_and_dominates_claims(
    changes: list[tuple[str, int, bool, int]], monitor: bool
) -> None:
    """Under any clock steps, right after a change the own version is one a peer
    with the same clock accepts (at most a refutation and a heartbeat past the limit), it never
    moves backwards unless the old one was beyond that, and it dominates every
    claim about this server accepted at that time."""
    me = Membership(URLS[0], monitor=monitor, now_ms=NOW, retention_ms=RETENTION, max_skew_ms=SKEW)
    intended = True
    for action, now, online, offset in changes:
        before = me.own.last_update
        claim = ServerEntry(URLS[0], not monitor, now + offset, online)
        if action == "heartbeat":
            me.heartbeat(now)
        elif action == "claim":
            me.merge([claim], now, 0.0)
        else:
            intended = action == "return"
            me.set_online(intended, now)
        own = me.own
        assert own.online == intended and own.monitor == monitor
        if action == "claim":
            assert own.last_update > claim.last_update  # the claim disagrees (monitor flag)
        if before <= now + SKEW + 1:
            assert own.last_update >= before  # never backwards while acceptable
        # A refutation of a claim at the limit gives limit + 1, and a
        # heartbeat at the same instant one more; the change after that
        # starts a new incarnation (R1), so nothing creeps further.
        assert own.last_update <= now + SKEW + 2
