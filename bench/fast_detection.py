"""Fast failure detection (indirect probes) against the heartbeat timeout
alone, side by side in one run of the full simulator (``bench/sim.py``, the
server's own ``Membership``, ``plan_tick`` and ``protocol/suspicion.py``).

    python bench/fast_detection.py [--quick]

Detection: servers crash one after the other (``gap`` rounds apart) in a
running cluster; for each, the rounds from its crash until every live server
lists it offline. False verdicts: offline verdicts about a live, online
server over a long run, under loss and under the faults of issue 12 (a
one-way cut, a server whose outgoing calls all fail, a server 3x slower).
Traffic: probe requests (accuser to witness) per server per round, and bytes
per server per round, at rest and while crashes are being detected.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import table, write_section
from bench.sim import SimConfig, Simulation
from flask_clustershazbot.protocol.membership import default_failure_timeout

#: Bytes of one entry on the wire (bench/http_throughput.py: 95.7 KiB per 1,000).
ENTRY_BYTES = 98
#: HTTP headers, each way.
HEADER_BYTES = 250
#: ``{"baseUrl": "https://..."}`` and ``{"reachable": false}``, with headers.
PROBE_BYTES = 2 * HEADER_BYTES + 60 + 20


@dataclass
class Counters:
    """Traffic counters of a simulation at one moment."""

    round: int
    exchanges: int
    probes: int
    witness: int
    pushes: int

    @classmethod
    def of(cls, sim: Simulation) -> Counters:
        return cls(sim.round, sim.exchanges, sim.probe_requests, sim.witness_exchanges, sim.verdict_pushes)


def traffic(sim: Simulation, before: Counters, after: Counters) -> tuple[float, float]:
    """Probe requests and bytes (gossip, verdict pushes, probes, witness
    exchanges; each exchange carries a whole view both ways) per server per
    round between two snapshots."""
    rounds = max(after.round - before.round, 1)
    servers = len(sim.live()) or 1
    view = len(sim.servers) * ENTRY_BYTES + HEADER_BYTES
    exchanges = after.exchanges - before.exchanges  # gossip, pushes and witness attempts
    probes = after.probes - before.probes
    total = exchanges * 2 * view + probes * PROBE_BYTES
    return probes / servers / rounds, total / servers / rounds


def percentile(values: list[int], q: float) -> int:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.999999) - 1))]


@dataclass
class Detection:
    rounds: list[int]
    steady: tuple[float, float]
    crash: tuple[float, float]
    false_verdicts: dict[str, int]


def detection(n: int, loss: float, probes: int, victims: int, gap: int, seed: int, **config: Any) -> Detection:
    """Crash ``victims`` servers ``gap`` rounds apart; rounds until each is
    offline in every live view."""
    sim = Simulation(SimConfig(n=n, loss=loss, indirect_probes=probes, **config), seed)
    for _ in range(3):  # let the backoffs and health windows fill
        sim.run_round()
    rest = Counters.of(sim)
    for _ in range(3):
        sim.run_round()
    steady = traffic(sim, rest, Counters.of(sim))
    start = Counters.of(sim)
    crashed: dict[int, int] = {}
    found: list[int] = []
    queue = list(range(n - 1, n - 1 - victims, -1))

    def check() -> None:
        for index, at in list(crashed.items()):
            url = sim.servers[index].url
            if all(not s.membership.entries[url].online for s in sim.live()):
                found.append(sim.round - at)
                del crashed[index]

    while queue or crashed:
        if queue and (not crashed or sim.round - max(crashed.values()) >= gap):
            victim = queue.pop(0)
            sim.crash(sim.servers[victim])
            crashed[victim] = sim.round
        sim.run_round()
        check()
    return Detection(found, steady, traffic(sim, start, Counters.of(sim)), dict(sim.false_verdicts))


@dataclass
class FalseVerdicts:
    verdicts: dict[str, int]
    traffic: tuple[float, float]


def false_verdicts(
    n: int, loss: float, fault: str, probes: int, rounds: int, seed: int, **config: Any
) -> FalseVerdicts:
    """Run ``rounds`` rounds with ``fault`` in force; count offline verdicts
    about live servers. Faults: ``none``; ``one-way`` (server 0 cannot reach
    server 1, everyone else can); ``mute`` (server 0's outgoing calls all
    fail, it still answers); ``slow`` (server 0 ticks every third round and
    its answers miss the deadline 3x as often)."""
    sim = Simulation(SimConfig(n=n, loss=loss, indirect_probes=probes, **config), seed)
    if fault == "one-way":
        sim.blocked.add((0, 1))
    elif fault == "mute":
        sim.mute.add(0)
    elif fault == "slow":
        sim.slow.add(0)
    elif fault != "none":
        raise ValueError(fault)
    before = Counters.of(sim)
    for _ in range(rounds):
        sim.run_round()
    return FalseVerdicts(dict(sim.false_verdicts), traffic(sim, before, Counters.of(sim)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="N = 100 and fewer rounds (well under a minute)")
    args = parser.parse_args()
    began = time.time()
    quick = args.quick
    cases = (
        [(100, 0.05, 12, 3), (100, 0.2, 12, 3)]
        if quick
        else [(100, 0.05, 30, 3), (1000, 0.05, 12, 1), (1000, 0.2, 12, 1)]
    )
    detect_rows: list[list[object]] = []
    traffic_rows: list[list[object]] = []
    for n, loss, victims, gap in cases:
        for probes in (0, 3):
            d = detection(n, loss, probes, victims, gap, seed=n + int(loss * 100))
            mode = "heartbeat only" if probes == 0 else f"{probes} indirect probes"
            timeout = default_failure_timeout(1.0, n)
            detect_rows.append([
                n, f"{loss:.0%}", mode, len(d.rounds), percentile(d.rounds, 0.5), percentile(d.rounds, 0.99),
                max(d.rounds), f"{timeout:.1f}", d.false_verdicts["timeout"] + d.false_verdicts["probe"],
            ])
            traffic_rows.append([
                n, f"{loss:.0%}", mode, f"{d.steady[0]:.2f}", f"{d.steady[1] / 1024:.1f}",
                f"{d.crash[0]:.2f}", f"{d.crash[1] / 1024:.1f}",
            ])
            print(" | ".join(str(c) for c in detect_rows[-1]), f"({time.time() - began:.0f}s)", flush=True)
    fv_n, fv_rounds = (20, 200) if quick else (30, 1000)
    fv_rows: list[list[object]] = []
    for loss, fault in ((0.05, "none"), (0.2, "none"), (0.05, "one-way"), (0.05, "mute"), (0.05, "slow")):
        row: list[object] = [fv_n, f"{loss:.0%}", fault]
        for probes in (0, 3):
            result = false_verdicts(fv_n, loss, fault, probes, fv_rounds, seed=7)
            row.append(result.verdicts["timeout"] + result.verdicts["probe"])
            if probes:
                row += [f"{result.traffic[0]:.2f}", f"{result.traffic[1] / 1024:.1f}"]
        fv_rows.append(row)
        print(" | ".join(str(c) for c in row), f"({time.time() - began:.0f}s)", flush=True)
    detect_header = ["N", "loss", "mode", "crashes", "p50 rounds", "p99 rounds", "max rounds", "timeout (rounds)",
                     "false verdicts"]
    traffic_header = ["N", "loss", "mode", "probe requests/server/round at rest", "KiB/server/round at rest",
                      "probe requests/server/round during crashes", "KiB/server/round during crashes"]
    fv_header = ["N", "loss", "fault", "false verdicts, heartbeat only", "false verdicts, 3 probes",
                 "probe requests/server/round", "KiB/server/round"]
    print()
    print(table(detect_header, detect_rows))
    print()
    print(table(traffic_header, traffic_rows))
    print()
    print(table(fv_header, fv_rows))
    print(f"\n{fv_rounds} rounds per false-verdict row; {time.time() - began:.0f}s in all")
    if quick:
        return
    write_section(
        "fast_detection",
        "## Fast failure detection (`python bench/fast_detection.py`)\n\n"
        "The full simulator, heartbeat timeout only against indirect probes (SHAZBOT_INDIRECT_PROBES=3), in one "
        "run. Crash detection: servers crash one after the other in a running cluster (no monitors, default "
        "timeout); rounds from each crash until every live server lists it offline.\n\n"
        + table(detect_header, detect_rows)
        + "\n\nTraffic (each exchange carries the whole view both ways, 98 bytes per entry plus 250 bytes of "
        "headers each way; a witness tries the suspect with real exchanges, up to 3):\n\n"
        + table(traffic_header, traffic_rows)
        + f"\n\nFalse offline verdicts about live servers over {fv_rounds} rounds, at N = {fv_n}. one-way: server "
        "0 cannot reach server 1, everyone else can; mute: server 0's outgoing calls all fail, it still answers; "
        "slow: server 0 ticks every third round and its answers miss the deadline 3x as often.\n\n"
        + table(fv_header, fv_rows)
        + "\n",
    )


if __name__ == "__main__":
    main()
