"""The pure rules of fast failure detection (protocol/suspicion.py)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from flask_clustershazbot.protocol.model import ServerEntry
from flask_clustershazbot.protocol.suspicion import (
    LocalHealth,
    Outcome,
    SuspicionPolicy,
    Suspicions,
    witness_answer,
)

INTERVAL = 1000
SELF = "http://self/"
SUSPECT = ServerEntry("http://suspect/", False, 500, True)
PEERS = [ServerEntry(f"http://p{i}/", i == 0, 100, True) for i in range(8)]
ONLINE = [SUSPECT, *PEERS]


def policy(**overrides: int) -> SuspicionPolicy:
    return SuspicionPolicy(interval_ms=INTERVAL, failure_timeout_ms=20 * INTERVAL, **overrides)


def view(suspect: ServerEntry = SUSPECT) -> dict[str, ServerEntry]:
    return {suspect.base_url: suspect, **{p.base_url: p for p in PEERS}}


def unreachable_round(s: Suspicions, now: int, witnesses: list[ServerEntry]) -> ServerEntry | None:
    for w in witnesses:
        s.answer(SUSPECT.base_url, w.base_url, False)
    return s.conclude(SUSPECT.base_url, now, SUSPECT)


def test_witnesses_are_k_random_online_peers_never_self_or_the_suspect() -> None:
    s = Suspicions(SELF, policy())
    me = ServerEntry(SELF, False, 1, True)
    offline = ServerEntry("http://gone/", False, 1, False)
    witnesses = s.start(SUSPECT, 0, [me, offline, *ONLINE], random.Random(1), healthy=True)
    assert len(witnesses) == 3
    urls = {w.base_url for w in witnesses}
    assert len(urls) == 3
    assert not urls & {SELF, SUSPECT.base_url, offline.base_url}


def test_two_unreachable_rounds_an_interval_apart_give_the_verdict() -> None:
    s = Suspicions(SELF, policy())
    rng = random.Random(2)
    first = s.start(SUSPECT, 0, ONLINE, rng, healthy=True)
    assert unreachable_round(s, 0, first) is None  # one round is not enough
    assert s.due(INTERVAL // 2 - 1, view(), ONLINE, rng, healthy=True) == []  # too early
    [(suspect, second)] = s.due(INTERVAL, view(), ONLINE, rng, healthy=True)
    assert suspect == SUSPECT
    verdict = unreachable_round(s, INTERVAL, second)
    assert verdict == SUSPECT._replace(online=False, last_update=SUSPECT.last_update + 1)
    assert SUSPECT.base_url not in s


def test_a_witness_that_reaches_the_suspect_clears_it() -> None:
    s = Suspicions(SELF, policy())
    rng = random.Random(3)
    witnesses = s.start(SUSPECT, 0, ONLINE, rng, healthy=True)
    s.answer(SUSPECT.base_url, witnesses[0].base_url, False)
    s.answer(SUSPECT.base_url, witnesses[1].base_url, False)
    s.answer(SUSPECT.base_url, witnesses[2].base_url, True)
    assert s.outcome(SUSPECT.base_url) is Outcome.CLEARED
    assert s.conclude(SUSPECT.base_url, 0, SUSPECT) is None
    assert SUSPECT.base_url not in s
    assert s.due(INTERVAL, view(), ONLINE, rng, healthy=True) == []


def test_one_unreachable_answer_is_undecided_unless_k_is_one() -> None:
    s = Suspicions(SELF, policy())
    witnesses = s.start(SUSPECT, 0, ONLINE, random.Random(4), healthy=True)
    s.answer(SUSPECT.base_url, witnesses[0].base_url, False)
    s.answer(SUSPECT.base_url, witnesses[1].base_url, None)  # 404: not a witness
    assert s.outcome(SUSPECT.base_url) is Outcome.UNDECIDED
    single = Suspicions(SELF, policy(probes=1))
    [only] = single.start(SUSPECT, 0, ONLINE, random.Random(4), healthy=True)
    single.answer(SUSPECT.base_url, only.base_url, False)
    assert single.outcome(SUSPECT.base_url) is Outcome.UNREACHABLE


def test_answers_from_servers_not_asked_count_for_nothing() -> None:
    s = Suspicions(SELF, policy())
    s.start(SUSPECT, 0, ONLINE, random.Random(5), healthy=True)
    s.answer(SUSPECT.base_url, "http://stranger/", False)
    s.answer(SUSPECT.base_url, "http://other-stranger/", False)
    assert s.outcome(SUSPECT.base_url) is Outcome.UNDECIDED


def test_direct_contact_clears_the_suspicion_a_second_hand_heartbeat_does_not() -> None:
    s = Suspicions(SELF, policy())
    rng = random.Random(6)
    unreachable_round(s, 0, s.start(SUSPECT, 0, ONLINE, rng, healthy=True))
    # A crashed server's last heartbeats still spread after the crash.
    newer = SUSPECT._replace(last_update=SUSPECT.last_update + 40)
    [(suspect, witnesses)] = s.due(INTERVAL, view(newer), ONLINE, rng, healthy=True)
    assert suspect == newer
    for w in witnesses:
        s.answer(SUSPECT.base_url, w.base_url, False)
    verdict = s.conclude(SUSPECT.base_url, INTERVAL, newer)
    assert verdict == newer._replace(online=False, last_update=newer.last_update + 1)  # dominates it
    # The suspect gossiped to us, or answered us: it is alive.
    unreachable_round(s, 2 * INTERVAL, s.start(SUSPECT, 2 * INTERVAL, ONLINE, rng, healthy=True))
    s.contact(SUSPECT.base_url)
    assert SUSPECT.base_url not in s
    assert s.due(4 * INTERVAL, view(), ONLINE, rng, healthy=True) == []


def test_a_suspect_already_offline_in_the_view_needs_no_verdict() -> None:
    s = Suspicions(SELF, policy())
    rng = random.Random(6)
    unreachable_round(s, 0, s.start(SUSPECT, 0, ONLINE, rng, healthy=True))
    offline = SUSPECT._replace(online=False, last_update=SUSPECT.last_update + 1)
    assert s.due(INTERVAL, view(offline), ONLINE, rng, healthy=True) == []
    assert SUSPECT.base_url not in s


def test_at_most_one_round_per_suspect_per_interval() -> None:
    s = Suspicions(SELF, policy())
    rng = random.Random(7)
    witnesses = s.start(SUSPECT, 0, ONLINE, rng, healthy=True)
    assert s.start(SUSPECT, 1, ONLINE, rng, healthy=True) == []  # round still open
    s.conclude(SUSPECT.base_url, 1, SUSPECT)  # undecided: no answers
    assert s.start(SUSPECT, 10, ONLINE, rng, healthy=True) == []  # rate-limited
    assert len(s.start(SUSPECT, INTERVAL, ONLINE, rng, healthy=True)) == len(witnesses)


def test_an_unhealthy_server_never_accuses() -> None:
    s = Suspicions(SELF, policy())
    rng = random.Random(8)
    assert s.start(SUSPECT, 0, ONLINE, rng, healthy=False) == []
    unreachable_round(s, 0, s.start(SUSPECT, 0, ONLINE, rng, healthy=True))
    assert s.due(INTERVAL, view(), ONLINE, rng, healthy=False) == []  # dropped: the timeout decides
    assert SUSPECT.base_url not in s


def test_probes_zero_turns_the_fast_path_off() -> None:
    s = Suspicions(SELF, policy(probes=0))
    assert s.start(SUSPECT, 0, ONLINE, random.Random(9), healthy=True) == []


def test_the_number_of_suspects_is_bounded() -> None:
    s = Suspicions(SELF, policy(max_suspects=2))
    rng = random.Random(10)
    suspects = [ServerEntry(f"http://s{i}/", False, 1, True) for i in range(3)]
    started = [s.start(x, 0, [*suspects, *PEERS], rng, healthy=True) for x in suspects]
    assert [bool(w) for w in started] == [True, True, False]
    assert len(s) == 2


def test_local_health() -> None:
    health = LocalHealth(policy())
    assert health.healthy(0)
    for ok in (False, False, False):
        health.record_exchange(ok)
    assert health.healthy(0)  # fewer than 4 outcomes say nothing
    health.record_exchange(True)
    assert not health.healthy(0)  # 3 of 4 failed: at least 70%
    health.record_exchange(True)
    assert health.healthy(0)  # 3 of 5: a lossy network, not a sick server
    for _ in range(10):
        health.record_exchange(True)
    assert health.healthy(0)
    health.record_tick(0, late_ms=INTERVAL // 2 + 1)
    assert not health.healthy(0)
    health.record_tick(INTERVAL, late_ms=0, paused=True)
    assert not health.healthy(INTERVAL + 20 * INTERVAL - 1)
    assert health.healthy(INTERVAL + 20 * INTERVAL)


def test_an_unhealthy_witness_abstains_rather_than_says_unreachable() -> None:
    assert witness_answer(reached=True, healthy=False) is True
    assert witness_answer(reached=False, healthy=True) is False
    assert witness_answer(reached=False, healthy=False) is None


answers = st.sampled_from([True, False, None])


@settings(max_examples=200, deadline=None)
@given(
    rounds=st.lists(st.lists(answers, min_size=0, max_size=5), min_size=1, max_size=6),
    probes=st.integers(0, 5),
    gaps=st.lists(st.integers(0, 2 * INTERVAL), min_size=6, max_size=6),
    seed=st.integers(0, 2**32),
)
def test_verdict_rules_hold_for_any_answers(
    rounds: list[list[bool | None]], probes: int, gaps: list[int], seed: int
) -> None:
    """Whatever witnesses answer and whenever ticks come: at most k witnesses
    per round, at most one round per half interval, and a verdict only after
    two rounds with enough "unreachable" and never a "reachable"."""
    p = policy(probes=probes)
    s = Suspicions(SELF, p)
    rng = random.Random(seed)
    now, last_round, streak = 0, None, 0
    for i, said in enumerate(rounds):
        if i == 0:
            witnesses = s.start(SUSPECT, now, ONLINE, rng, healthy=True)
        else:
            due = s.due(now, view(), ONLINE, rng, healthy=True)
            assert len(due) <= 1
            witnesses = due[0][1] if due else []
        if not witnesses:
            if SUSPECT.base_url not in s:
                break
            now += gaps[i]
            continue
        assert probes > 0 and len(witnesses) <= probes
        if last_round is not None:
            assert now - last_round >= p.min_gap_ms
        last_round = now
        for w, a in zip(witnesses, said, strict=False):
            s.answer(SUSPECT.base_url, w.base_url, a)
        given_ = list(zip(witnesses, said, strict=False))
        unreachable = not any(a is True for _, a in given_) and (
            sum(1 for _, a in given_ if a is False) >= min(2, probes)
        )
        # UNDECIDED rounds neither count nor reset; a "reachable" ends it all.
        streak = streak + 1 if unreachable else streak
        verdict = s.conclude(SUSPECT.base_url, now, SUSPECT)
        if verdict is not None:
            assert streak >= 2
            assert not verdict.online and verdict.last_update == SUSPECT.last_update + 1
            break
        assert not (unreachable and streak >= 2)
        if any(a is True for _, a in given_):
            assert SUSPECT.base_url not in s
            break
        now += gaps[i]
