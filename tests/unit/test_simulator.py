"""The simulator drives the real protocol code; its invariants hold over a few
hundred random fault scenarios, and its fast modes follow the same rules."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from bench.convergence import partner_sampler, spread_rounds
from bench.sim import STEP_FACTORS, SimConfig, Simulation, chaos_scenario, clock_step_scenario
from flask_clustershazbot.protocol.model import ServerEntry
from flask_clustershazbot.protocol.peers import PeerBackoff, choose_partner


@pytest.mark.parametrize("block", range(6))
def test_invariants_hold_under_random_faults(block: int) -> None:
    for seed in range(block * 50, block * 50 + 50):
        chaos_scenario(seed)  # raises Violation naming the seed


def test_same_seed_same_run() -> None:
    a, b = chaos_scenario(1234), chaos_scenario(1234)
    assert a.exchanges == b.exchanges
    assert [s.membership.entries for s in a.servers] == [s.membership.entries for s in b.servers]


def test_partition_both_sides_declare_the_other_offline_then_heal() -> None:
    sim = Simulation(SimConfig(n=6), seed=7)
    for _ in range(5):
        sim.run_round()
    assert sim.agrees_with_truth()
    sim.partition([0, 1, 2])
    for _ in range(int(sim.timeout_rounds()) + 10):
        sim.run_round()
    left, right = {s.url for s in sim.servers[:3]}, {s.url for s in sim.servers[3:]}
    for server in sim.servers:
        other = right if server.url in left else left
        assert all(not server.membership.entries[url].online for url in other)
    sim.heal()
    healed_at = sim.round
    while not sim.agrees_with_truth():
        sim.run_round()
        assert sim.round - healed_at < 15, "sides did not find each other after the heal"


def test_crashed_server_is_offline_everywhere_after_the_timeout() -> None:
    # The heartbeat timeout alone (indirect probes off: they detect sooner).
    sim = Simulation(SimConfig(n=20, monitors=2, indirect_probes=0), seed=3)
    for _ in range(3):
        sim.run_round()
    victim = sim.servers[7]
    sim.crash(victim)
    crashed_at = sim.round
    while not all(not s.membership.entries[victim.url].online for s in sim.live()):
        sim.run_round()
        assert sim.round - crashed_at < sim.timeout_rounds() + 10
    assert sim.round - crashed_at >= int(sim.timeout_rounds())  # not before the timeout


def test_fast_partner_sampler_draws_like_choose_partner() -> None:
    n, monitors, draws = 12, 3, 30_000
    peers_of = {i: [ServerEntry(f"http://s{j}/", j < monitors, 1, True) for j in range(n) if j != i] for i in (0, 5)}
    for chooser in (0, 5):  # a monitor and a non-monitor choosing
        rng = random.Random(1)
        real = Counter(
            int(choose_partner(peers_of[chooser], rng, 0.5, PeerBackoff(1, 1), 0.0).base_url[8:-1])  # type: ignore[union-attr]
            for _ in range(draws)
        )
        pick = partner_sampler(n, monitors, random.Random(2))
        fast = Counter(pick(chooser) for _ in range(draws))
        assert set(real) == set(fast)
        for j in real:
            assert abs(real[j] - fast[j]) < 0.02 * draws, (chooser, j, real[j], fast[j])


def test_fast_spread_matches_the_full_simulator_on_average() -> None:
    """Rounds for a drain to reach everyone: the single-entry fast mode against
    the full simulator (real Membership merges), same N, many seeds."""
    n, seeds = 30, 40
    full = []
    for seed in range(seeds):
        sim = Simulation(SimConfig(n=n), seed=seed)
        sim.run_round()
        target = sim.servers[n - 1]
        sim.set_online(target, False)
        full.append(sim.rounds_until_offline_everywhere(target))
    rng = random.Random(5)
    fast = [spread_rounds(n, 0, "drain", rng) for _ in range(seeds)]
    assert abs(sum(full) / seeds - sum(fast) / seeds) < 1.0, (full, fast)


#: "Within a few intervals after the correction" (measured: at most 7 over 720 scenarios).
STEP_RECOVERY_ROUNDS = 10


@pytest.mark.parametrize("several", [False, True], ids=["one server", "three servers"])
@pytest.mark.parametrize("forward", [True, False], ids=["forward", "back"])
@pytest.mark.parametrize("factor", STEP_FACTORS)
def test_a_stepped_clock_recovers_within_a_few_intervals_of_the_correction(
    factor: float, forward: bool, several: bool
) -> None:
    for seed in range(12):
        rng = random.Random(seed)
        outcome = clock_step_scenario(
            seed,
            factor,
            forward,
            stepped=3 if several else 1,
            hold_rounds=rng.choice([1, 20]),  # one tick, or long enough for every timeout
            stagger_rounds=rng.choice([0, 15]) if several else 0,  # corrected together or apart
            limit=STEP_RECOVERY_ROUNDS,
        )  # raises Violation (naming the seed) on a broken invariant or a late recovery
        assert outcome.recovered_after is not None and outcome.recovered_after <= STEP_RECOVERY_ROUNDS


@pytest.mark.parametrize(
    ("abandon", "forget", "stepped", "stagger"),
    [
        (False, False, 1, 0),  # the rules before: versions never go back, future entries refused
        (False, True, 1, 0),  # the holder's half alone: the owner stays refused
        (True, False, 3, 15),  # the owner's half alone: a peer stepped with it blocks it
    ],
    ids=["neither half", "holder half only", "owner half only"],
)
@pytest.mark.parametrize("factor", [2.0, 20.0])
def test_without_the_clock_step_rule_a_forward_step_strands_the_server(
    factor: float, abandon: bool, forget: bool, stepped: int, stagger: int
) -> None:
    for seed in range(3):
        outcome = clock_step_scenario(
            seed, factor, True, stepped=stepped, hold_rounds=20, stagger_rounds=stagger,
            limit=STEP_RECOVERY_ROUNDS, check=False,
            abandon_refused_version=abandon, forget_future_entries=forget,
        )
        assert outcome.recovered_after is None, (seed, outcome)
