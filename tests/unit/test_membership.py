"""Heartbeat, refutation, failure detection and cleanup, with time passed in."""

from __future__ import annotations

import random

from flask_clustershazbot.protocol.membership import Membership, default_failure_timeout
from flask_clustershazbot.protocol.model import ServerEntry
from flask_clustershazbot.protocol.peers import PeerBackoff
from flask_clustershazbot.protocol.tick import TickPlan, TickPolicy, plan_tick

NOW = 1_800_000_000_000
ME, PEER, OTHER = "http://me/", "http://peer/", "http://other/"


def member(now: int = NOW) -> Membership:
    return Membership(ME, monitor=False, now_ms=now, retention_ms=86_400_000, max_skew_ms=300_000)


def test_heartbeat_never_moves_backwards_even_if_the_clock_does() -> None:
    m = member()
    m.heartbeat(NOW + 1000)
    assert m.own.last_update == NOW + 1000
    m.heartbeat(NOW - 60_000)  # the wall clock stepped back
    assert m.own.last_update == NOW + 1001


def test_drained_server_does_not_heartbeat() -> None:
    m = member()
    m.set_online(False, NOW + 10)
    version = m.own.last_update
    m.heartbeat(NOW + 500)
    assert m.own.last_update == version and not m.own.online


def test_false_offline_claim_is_refuted_with_a_newer_version() -> None:
    m = member()
    claim = ServerEntry(ME, False, NOW + 5000, False)
    report = m.merge([claim], NOW + 100, 0.0)
    assert report.refuted == [claim]
    assert m.own.online and m.own.last_update == NOW + 5001


def test_refutation_uses_now_when_now_is_later() -> None:
    m = member()
    m.merge([ServerEntry(ME, False, NOW, False)], NOW + 9000, 0.0)
    assert m.own.last_update == NOW + 9000 and m.own.online


def test_older_claim_about_self_changes_nothing() -> None:
    m = member()
    m.heartbeat(NOW + 100)
    report = m.merge([ServerEntry(ME, False, NOW + 50, False)], NOW + 200, 0.0)
    assert not report.refuted and m.own.last_update == NOW + 100


def test_drained_server_refutes_a_claim_that_it_is_online() -> None:
    m = member()
    m.set_online(False, NOW + 10)
    m.merge([ServerEntry(ME, False, NOW + 10, True)], NOW + 20, 0.0)
    assert not m.own.online and m.own.last_update == NOW + 20


def test_silent_peer_is_declared_offline_with_its_last_version_plus_one() -> None:
    m = member()
    m.merge([ServerEntry(PEER, False, NOW, True)], NOW, mono=100.0)
    assert m.detect_failures(104.0, timeout=5.0, pause_after=10) == []
    failed = m.detect_failures(105.5, timeout=5.0, pause_after=10)
    assert failed == [ServerEntry(PEER, False, NOW + 1, False)]
    assert m.entries[PEER] == failed[0]


def test_fresh_heartbeat_overrides_the_failure_verdict() -> None:
    m = member()
    m.merge([ServerEntry(PEER, False, NOW, True)], NOW, mono=100.0)
    m.detect_failures(106.0, timeout=5.0, pause_after=10)
    m.merge([ServerEntry(PEER, False, NOW + 2, True)], NOW + 2, mono=107.0)
    assert m.entries[PEER].online
    assert m.detect_failures(108.0, timeout=5.0, pause_after=10) == []


def test_increasing_heartbeats_keep_a_peer_online() -> None:
    m = member()
    for step in range(20):
        m.merge([ServerEntry(PEER, False, NOW + step, True)], NOW + step, mono=100.0 + step)
        assert m.detect_failures(100.0 + step + 0.5, timeout=3.0, pause_after=10) == []


def test_repeated_old_heartbeat_does_not_count_as_fresh() -> None:
    m = member()
    m.merge([ServerEntry(PEER, False, NOW, True)], NOW, mono=100.0)
    m.merge([ServerEntry(PEER, False, NOW, True)], NOW, mono=104.0)  # same version again
    assert m.detect_failures(105.5, timeout=5.0, pause_after=10) != []


def test_after_a_local_pause_peers_get_a_grace_period() -> None:
    m = member()
    m.merge([ServerEntry(PEER, False, NOW, True)], NOW, mono=100.0)
    m.detect_failures(101.0, timeout=5.0, pause_after=3.0)
    # the process was stopped for 60 s: no verdict on waking up...
    assert m.detect_failures(161.0, timeout=5.0, pause_after=3.0) == []
    # ... but a peer that stays silent afterwards is still caught
    assert m.detect_failures(163.0, timeout=5.0, pause_after=3.0) == []
    assert m.detect_failures(165.0, timeout=5.0, pause_after=3.0) == []
    assert m.detect_failures(166.5, timeout=5.0, pause_after=3.0) != []


def test_cleanup_forgets_entries_past_retention_but_never_self() -> None:
    m = Membership(ME, monitor=False, now_ms=NOW, retention_ms=1000, max_skew_ms=0)
    m.merge([ServerEntry(PEER, False, NOW, False), ServerEntry(OTHER, False, NOW + 900, False)], NOW + 900, 0.0)
    assert m.cleanup(NOW + 1500) == [PEER]
    assert set(m.entries) == {ME, OTHER}
    m.cleanup(NOW + 10**9)
    assert set(m.entries) == {ME}


def test_default_failure_timeout_grows_with_log_of_cluster_size() -> None:
    small, medium, large = (default_failure_timeout(1.0, n) for n in (10, 100, 1000))
    assert small < medium < large
    assert large - medium == medium - small or abs((large - medium) - (medium - small)) < 1e-9
    assert default_failure_timeout(2.0, 100) == 2 * default_failure_timeout(1.0, 100)


# -- clock steps (docs/protocol.md section 4, "Clock steps") ------------------

SKEW = 300_000
HOURS_2 = 7_200_000


def tick(m: Membership, now: int, mono: float) -> TickPlan:
    return plan_tick(m, now, mono, random.Random(1), PeerBackoff(1, 8), TickPolicy(1.0, failure_timeout=5.0))


def holder(now: int = NOW) -> Membership:
    return Membership(PEER, monitor=False, now_ms=now, retention_ms=86_400_000, max_skew_ms=SKEW)


def test_after_a_forward_clock_step_is_corrected_the_server_is_accepted_again() -> None:
    m, peer = member(), holder()
    m.heartbeat(NOW + HOURS_2)  # the clock jumped two hours ahead ...
    assert peer.merge([m.own], NOW + 500, 0.0).dropped_future == [ME]  # ... and peers refuse that version
    m.heartbeat(NOW + 1000)  # the clock is corrected
    assert m.own.last_update == NOW + 1000 and m.own.online
    report = peer.merge([m.own], NOW + 1000, 1.0)
    assert report.dropped_future == [] and peer.entries[ME] == m.own


def test_a_new_incarnation_keeps_status_and_monitor_flag() -> None:
    m = Membership(ME, monitor=True, now_ms=NOW, retention_ms=86_400_000, max_skew_ms=SKEW)
    m.heartbeat(NOW + HOURS_2)
    m.set_online(False, NOW + 1000)  # drained after the correction
    assert m.own == ServerEntry(ME, True, NOW + 1000, False)
    m.set_online(True, NOW + 2000)
    assert m.own == ServerEntry(ME, True, NOW + 2000, True)


def test_a_drained_server_with_a_refused_version_takes_an_acceptable_one() -> None:
    m = member()
    m.heartbeat(NOW + HOURS_2)
    m.set_online(False, NOW + HOURS_2)  # drained while the clock was ahead
    m.heartbeat(NOW + 1000)  # no heartbeat while drained, but the refused version is abandoned
    assert m.own == ServerEntry(ME, False, NOW + 1000, False)


def test_a_step_within_the_skew_limit_keeps_the_version_monotonic() -> None:
    m = member()
    m.heartbeat(NOW + SKEW // 2)  # half the limit ahead: peers accepted it
    m.heartbeat(NOW + 1000)
    assert m.own.last_update == NOW + SKEW // 2 + 1


def test_a_claim_about_self_after_the_correction_starts_the_new_incarnation_at_once() -> None:
    m = member()
    m.heartbeat(NOW + HOURS_2)
    claim = ServerEntry(ME, False, NOW + 1, False)  # a peer timed us out meanwhile
    report = m.merge([claim], NOW + 1000, 0.0)
    assert report.refuted == [claim]
    assert m.own == ServerEntry(ME, False, NOW + 1000, True)


def test_refuting_the_newest_acceptable_claim_is_not_abandoned() -> None:
    m = member()
    claim = ServerEntry(ME, False, NOW + SKEW, False)  # as far ahead as a peer may be
    m.merge([claim], NOW, 0.0)
    m.heartbeat(NOW)
    assert m.own.last_update > claim.last_update and m.own.online


def test_entries_dated_beyond_the_skew_after_the_holders_clock_went_back_are_forgotten() -> None:
    m = member()
    # Our clock ran two hours ahead: a peer stepped with us was accepted.
    m.merge([ServerEntry(PEER, False, NOW + HOURS_2, True), ServerEntry(OTHER, False, NOW + HOURS_2, False)],
            NOW + HOURS_2, 10.0)
    plan = tick(m, NOW + 1000, 11.0)  # corrected
    assert sorted(plan.forgotten_future) == sorted([PEER, OTHER])
    assert set(m.entries) == {ME}
    # The peer's new incarnation is accepted, and gets a full grace period.
    m.merge([ServerEntry(PEER, False, NOW + 1500, True)], NOW + 1500, 12.0)
    assert m.entries[PEER] == ServerEntry(PEER, False, NOW + 1500, True)
    for mono in (13.0, 14.5, 16.0):
        assert tick(m, NOW + 2000, mono).failed == []
    assert tick(m, NOW + 3000, 17.5).failed != []  # silent for 5.5 s: still detected


def test_entries_within_the_skew_are_kept() -> None:
    m = member()
    m.merge([ServerEntry(PEER, False, NOW + SKEW, True)], NOW, 0.0)
    plan = tick(m, NOW, 0.5)
    assert plan.forgotten_future == [] and m.entries[PEER].last_update == NOW + SKEW
