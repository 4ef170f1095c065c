"""Rounds until every live server has a change (join, drain, graceful leave).

    python bench/convergence.py [--seeds 200]

Merge is per entry, so spreading one change only needs each server's copy of
that one entry: this fast mode tracks it alone, with the same peer choice as
``choose_partner`` (equivalence is tested in tests/unit/test_simulator.py), the
same round model as the simulator (every live server ticks once per round in
a random order; each tick is one push-pull exchange), and the same first
moves as the server: a joining or returning server gossips at once, a drained
one spreads at once, a leaving one tells up to three peers, monitors first.

Printed beside: the push-pull reference (one random partner per round,
synchronous rounds, p99 by Monte Carlo here, about log3 N + 3) and Pittel's
push bound log2 N + ln N.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import ROOT, table, write_section
from flask_clustershazbot.protocol.tick import SHUTDOWN_FANOUT

PREFERENCE = 0.5  # SHAZBOT_MONITOR_PREFERENCE default
SIZES = (10, 100, 1000, 10000)
KINDS = ("join", "drain", "leave")


def partner_sampler(n: int, monitors: int, rng: random.Random) -> Callable[[int], int]:
    """Draws like ``choose_partner`` over all other servers (all online, no
    backoff): with probability PREFERENCE a uniform monitor other than self
    if there is one, else a uniform peer other than self. Monitors are
    servers 0..monitors-1."""
    rand, randrange = rng.random, rng.randrange

    def pick(i: int) -> int:
        if monitors and rand() < PREFERENCE:
            if i >= monitors:
                return randrange(monitors)
            if monitors > 1:
                j = randrange(monitors - 1)
                return j + (j >= i)
        j = randrange(n - 1)
        return j + (j >= i)

    return pick


def spread_rounds(n: int, monitors: int, kind: str, rng: random.Random) -> int:
    pick = partner_sampler(n, monitors, rng)
    has = [False] * n
    origin = rng.randrange(monitors, n) if n > monitors else 0
    has[origin] = True
    informed = 1
    live = n
    departed = -1
    if kind == "leave":
        # goodbye_order: monitors first, then the rest, SHUTDOWN_FANOUT of them
        others = [i for i in range(n) if i != origin]
        rng.shuffle(others)
        others.sort(key=lambda i: i >= monitors)
        for peer in others[:SHUTDOWN_FANOUT]:
            has[peer] = True
        informed = SHUTDOWN_FANOUT  # the leaver itself no longer counts
        departed, live = origin, n - 1
    else:  # join and drain: one exchange at once
        j = pick(origin)
        has[j] = True
        informed = 2
    order = [i for i in range(n) if i != departed]
    rounds = 0
    shuffle = rng.shuffle
    while informed < live:
        rounds += 1
        shuffle(order)
        for i in order:
            j = pick(i)
            if j == departed:
                if has[i]:  # knows it left: picks someone else
                    while j == departed:
                        j = pick(i)
                else:
                    continue  # the exchange fails: the server is gone
            elif kind == "join" and j == origin and not has[i]:
                continue  # cannot pick a server it has not heard of
            hi, hj = has[i], has[j]
            if hi != hj:
                has[i] = has[j] = True
                informed += 1
    return rounds


def push_pull_reference_p99(n: int, seeds: int, rng: np.random.Generator) -> float:
    """Synchronous push-pull with one uniform partner per round (Monte Carlo)."""
    import numpy as np  # here, not at the top: the tests import this module without numpy
    results = []
    for _ in range(seeds):
        informed = np.zeros(n, dtype=bool)
        informed[0] = True
        rounds = 0
        while not informed.all():
            rounds += 1
            partners = rng.integers(0, n - 1, size=n)
            partners += partners >= np.arange(n)
            new = informed | informed[partners]
            new[partners[informed]] = True
            informed = new
        results.append(rounds)
    return float(np.percentile(results, 99))


def main() -> None:
    import numpy as np

    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    args = parser.parse_args()
    began = time.time()
    header = ["N", "monitors", "change", "mean rounds", "p99 rounds", "push-pull p99 (MC)", "log3 N + 3", "Pittel"]
    rows: list[list[object]] = []
    p99s: dict[tuple[int, int], list[float]] = {}
    references: list[float] = []
    for n in args.sizes:
        reference = push_pull_reference_p99(n, args.seeds, np.random.default_rng(n))
        references.append(reference)
        for monitors in (0, 3):
            for kind in KINDS:
                rng = random.Random(f"{n}-{monitors}-{kind}")
                results = [spread_rounds(n, monitors, kind, rng) for _ in range(args.seeds)]
                mean, p99 = float(np.mean(results)), float(np.percentile(results, 99))
                p99s.setdefault((monitors, KINDS.index(kind)), []).append(p99)
                rows.append([n, monitors, kind, f"{mean:.2f}", f"{p99:.1f}", f"{reference:.1f}",
                             f"{math.log(n, 3) + 3:.1f}", f"{math.log2(n) + math.log(n):.1f}"])
                print(" ".join(f"{c!s:>10}" for c in rows[-1]), flush=True)
    text = table(header, rows)
    print(f"\n{args.seeds} seeds per row; {time.time() - began:.0f}s")
    plot = ROOT / "docs" / "convergence.png"
    render(args.sizes, p99s, references, plot)
    write_section(
        "convergence",
        f"## Convergence (`python bench/convergence.py`)\n\nRounds (gossip intervals) until every live server "
        f"has a change, over {args.seeds} seeds per row, with the push-pull reference and Pittel's push bound. "
        "Rounds here are asynchronous, as in a real cluster: every server ticks once per round in a random "
        "order, so news can travel more than one hop in a round. Under synchronous rounds and without monitors "
        "the protocol's spreading is exactly the push-pull reference column (one uniform partner per round, "
        "push-pull). Monitors act as hubs: half of all ticks go to one of them.\n\n"
        f"{text}\n\n![p99 rounds to convergence](convergence.png)\n",
    )


def render(sizes: list[int], p99s: dict[tuple[int, int], list[float]], references: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (monitors, kind_index), values in sorted(p99s.items()):
        ax.plot(sizes, values, marker="o", label=f"{KINDS[kind_index]}, {monitors} monitors")
    ax.plot(sizes, references, "k--", label="push-pull reference p99")
    ax.plot(sizes, [math.log2(n) + math.log(n) for n in sizes], "k:", label="Pittel push bound")
    ax.set_xscale("log")
    ax.set_xlabel("servers (N)")
    ax.set_ylabel("p99 rounds until every server has the change")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
