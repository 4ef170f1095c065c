"""Indirect probes in the simulator (bench/sim.py with protocol/suspicion.py):
fast detection of a crash, and no false verdicts under loss and one-way faults."""

from __future__ import annotations

from bench.sim import SimConfig, SimServer, Simulation


def offline_everywhere(sim: Simulation, server: SimServer) -> bool:
    return all(not s.membership.entries[server.url].online for s in sim.live())


def crash_detection_rounds(sim: Simulation, victim: SimServer, limit: int) -> int:
    for _ in range(3):
        sim.run_round()
    sim.crash(victim)
    crashed_at = sim.round
    while not offline_everywhere(sim, victim):
        sim.run_round()
        assert sim.round - crashed_at <= limit, "crash not detected in time"
    return sim.round - crashed_at


def test_a_crash_is_offline_everywhere_well_before_the_timeout() -> None:
    for seed in range(3):
        sim = Simulation(SimConfig(n=30, loss=0.05), seed=seed)
        rounds = crash_detection_rounds(sim, sim.servers[29], limit=int(sim.timeout_rounds()) + 10)
        assert rounds <= 9, f"seed {seed}: {rounds} rounds (timeout {sim.timeout_rounds():.1f})"
        assert sim.false_verdicts == {"timeout": 0, "probe": 0}
        assert sim.probe_requests > 0


def test_no_false_verdict_over_300_rounds_at_20_percent_loss() -> None:
    sim = Simulation(SimConfig(n=30, loss=0.2), seed=11)
    for _ in range(300):
        sim.run_round()
    assert sim.probe_requests > 1000  # suspicions were raised, and all were cleared
    assert sim.false_verdicts == {"timeout": 0, "probe": 0}
    assert sim.agrees_with_truth()


def test_a_one_way_fault_never_produces_a_verdict() -> None:
    sim = Simulation(SimConfig(n=12), seed=5)
    sim.blocked.add((0, 1))  # server 0 cannot reach server 1; everyone else can
    for _ in range(200):
        sim.run_round()
    assert sim.probe_requests > 0  # server 0 did suspect server 1
    assert sim.false_verdicts == {"timeout": 0, "probe": 0}
    assert sim.agrees_with_truth()


def test_a_server_whose_calls_all_fail_neither_accuses_nor_is_accused() -> None:
    # One witness per round, so a witness that said "unreachable" because its
    # own calls fail would convict alone (4 false verdicts without the
    # local-health rule): an unhealthy witness abstains instead.
    sim = Simulation(SimConfig(n=6, loss=0.05, indirect_probes=1), seed=8)
    sim.mute.add(0)
    for _ in range(200):
        sim.run_round()
    assert sim.false_verdicts == {"timeout": 0, "probe": 0}
    assert sim.agrees_with_truth()


def test_without_probes_a_crash_waits_for_the_heartbeat_timeout() -> None:
    sim = Simulation(SimConfig(n=20, monitors=2, indirect_probes=0), seed=3)
    rounds = crash_detection_rounds(sim, sim.servers[7], limit=int(sim.timeout_rounds()) + 10)
    assert rounds >= int(sim.timeout_rounds())
    assert sim.probe_requests == 0
    assert all(s.suspicions is None for s in sim.servers)
