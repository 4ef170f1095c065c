"""The double/miss window of a cluster job, measured with the simulator.

    python bench/cluster_jobs.py            # N = 20 and 100, 20 seeds each
    python bench/cluster_jobs.py --quick    # fewer seeds

A cluster job runs at a fire time on every server that believes it owns the
job id then: the rendezvous owner among the servers online in its own view
(``owner_in_view``, what ``@shazbot.cluster_job`` checks). The simulator runs
the server's own protocol code (bench/sim.py); this script fires an interval
job at every round boundary (a job every gossip interval) and counts, per fire
time, how many live servers would run it: 0 is a missed fire, 2 or more a
doubled one. Each event hits the job's owner, the worst case:

* join: the server that will own the job comes (back) online;
* leave: the owner shuts down gracefully (goodbye to up to three peers);
* drain: the owner is drained through the control endpoint;
* crash: the owner dies without a word (fast failure detection on, as by default).

"spread" is the rounds until every live server holds the event (the target
online, or offline, in every live view). A job every 10 intervals is hit
only when one of its fire times falls in the window: its figures count the
fires at every 10th round, averaged over the 10 phases it may have.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import table, write_section
from bench.sim import SimConfig, SimServer, Simulation
from flask_clustershazbot.protocol.ownership import owner_in_view, owner_of

EVENTS = ("join", "leave", "drain", "crash")
#: Rounds counted after the event has spread everywhere (the window must be closed by then).
SETTLE_ROUNDS = 5
SPARSE = 10  # the second job fires every this many intervals


@dataclass
class Outcome:
    spread: int  # rounds until every live view holds the event
    doubled: int  # fire times (every interval) run by 2+ servers
    missed: int  # fire times run by none
    sparse_bad: float  # of the job every SPARSE intervals: fires doubled or missed (mean over its phases)
    sparse_hit: float  # of its phases, the share with a bad fire


def runners(sim: Simulation, job_id: str) -> int:
    """How many live servers would run ``job_id`` now."""
    return sum(
        1 for s in sim.live() if owner_in_view(job_id, s.membership.entries.values()) == s.url
    )


def job_owned_by(target: SimServer, urls: list[str]) -> str:
    """A job id that ``target`` owns once every server in ``urls`` is online."""
    return next(f"job-{i}" for i in range(100_000) if owner_of(f"job-{i}", urls) == target.url)


def held_everywhere(sim: Simulation, target: SimServer, online: bool) -> bool:
    return all(
        (e := s.membership.entries.get(target.url)) is not None and e.online is online for s in sim.live()
    )


def settle(sim: Simulation) -> None:
    for _ in range(200):
        if sim.agrees_with_truth():
            return
        sim.run_round()
    raise AssertionError(f"seed {sim.seed}: no agreement before the event")


def measure(event: str, n: int, seed: int) -> Outcome:
    sim = Simulation(SimConfig(n=n), seed)
    target = sim.servers[random.Random(seed).randrange(n)]
    urls = [s.url for s in sim.servers]
    job_id = job_owned_by(target, urls)
    if event == "join":
        sim.leave(target)  # gone, and known to be gone everywhere, before it joins
    settle(sim)
    assert runners(sim, job_id) == 1  # views agree: exactly one server runs it
    act: dict[str, Callable[[], None]] = {
        "join": lambda: sim.restart(target),
        "leave": lambda: sim.leave(target),
        "drain": lambda: sim.set_online(target, False),
        "crash": lambda: sim.crash(target),
    }
    act[event]()
    online_after = event == "join"
    counts: list[int] = []
    spread: int | None = None
    after_spread = 0
    while after_spread < SETTLE_ROUNDS:
        # A fire time at each round boundary: after the event (round 0), then each round.
        counts.append(runners(sim, job_id))
        if spread is None and held_everywhere(sim, target, online_after):
            spread = len(counts) - 1
        if spread is not None:
            after_spread += 1
        sim.run_round()
    assert spread is not None
    bad_per_phase = [sum(1 for c in counts[phase::SPARSE] if c != 1) for phase in range(SPARSE)]
    return Outcome(
        spread=spread,
        doubled=sum(1 for c in counts if c >= 2),
        missed=sum(1 for c in counts if c == 0),
        sparse_bad=statistics.mean(bad_per_phase),
        sparse_hit=sum(1 for bad in bad_per_phase if bad) / SPARSE,
    )


def summary(values: list[int]) -> str:
    return f"{statistics.mean(values):.1f} / {max(values)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 seeds per case, docs not written")
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    seeds = 5 if args.quick else args.seeds
    rows = []
    for n in (20, 100):
        for event in EVENTS:
            outcomes = [measure(event, n, seed) for seed in range(seeds)]
            rows.append([
                event,
                n,
                summary([o.spread for o in outcomes]),
                summary([o.doubled for o in outcomes]),
                summary([o.missed for o in outcomes]),
                f"{statistics.mean(o.sparse_bad for o in outcomes):.2f}",
                f"{statistics.mean(o.sparse_hit for o in outcomes):.0%}",
            ])
            print(*rows[-1], sep="\t", flush=True)
    header = [
        "event (hits the owner)", "N", "spread (rounds, mean / max)",
        "doubled fires, job every interval (mean / max)", "missed fires, job every interval (mean / max)",
        f"bad fires, job every {SPARSE} intervals (mean)", "events with a bad fire, same job",
    ]
    markdown = table(header, rows)
    print(markdown)
    if not args.quick:
        write_section(
            "cluster_jobs",
            "## Cluster job double/miss window (`python bench/cluster_jobs.py`)\n\n"
            "The simulator (bench/sim.py, the server's own protocol code, default settings: fast failure "
            f"detection on, no loss) with {seeds} seeds per row. At each fire time a server runs the job if it "
            "owns the job id in its own view; every event hits the job's owner. A *doubled* fire ran on two or "
            "more servers, a *missed* one on none; one round is one gossip interval.\n\n" + markdown + "\n\n"
            "A join doubles fires until the old owner hears of the newcomer; a leave, a drain or a crash "
            "misses fires until the new owner hears of it (a crash: until it is detected). No event both "
            "doubled and missed fires here, and the window is shorter than the spread on average: the new "
            "owner often hears before the last server does. docs/cluster-jobs.md says what this means for "
            "a job.",
        )


if __name__ == "__main__":
    main()
