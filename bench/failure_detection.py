"""Failure detection: how long a crashed server stays listed online, and how
often a live server is wrongly declared offline, at the default timeout.

    python bench/failure_detection.py [--n 1000] [--rounds 1000] [--loss 0.05]

Fast mode: every server's view of every server as one N x N matrix of merge
keys, ``2 * lastUpdate + offline``, so that the protocol's merge order (newer
wins; on equal time offline wins) is integer ``max`` and a whole view merges
in one vector operation. Each live server ticks once per round in a random
order: heartbeat (its own version moves past every claim), failure detection
on its row (an online entry whose version has not increased for the timeout
becomes ``version + 1``, offline), refutation of claims about itself, one
push-pull exchange with a partner drawn like ``choose_partner`` among the
peers it believes online, and an offline probe with probability 3 / online.
Each leg of an exchange is lost with the given probability.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import table, write_section
from flask_clustershazbot.protocol.membership import default_failure_timeout
from flask_clustershazbot.protocol.peers import offline_probe_probability

PREFERENCE = 0.5


class Cluster:
    def __init__(self, n: int, monitors: int, loss: float, timeout: float, seed: int) -> None:
        self.n, self.monitors, self.loss, self.timeout = n, monitors, loss, timeout
        self.rng = random.Random(seed)
        self.keys = np.zeros((n, n), dtype=np.int64)  # everyone online at version 0
        self.heard = np.zeros((n, n))  # when each version last increased, per observer
        self.alive = np.ones(n, dtype=bool)
        self.false_positives = 0
        self.max_gap = 0.0
        self.now = 0.0

    def merge_into(self, dst: int, src: int) -> None:
        mine, theirs = self.keys[dst], self.keys[src]
        own = mine[dst]
        newer = (theirs >> 1) > (mine >> 1)
        self.heard[dst][newer] = self.now
        np.maximum(mine, theirs, out=mine)
        claim = theirs[dst]
        mine[dst] = own
        if claim > own:  # refute: our version moves past the claim, online
            mine[dst] = ((claim >> 1) + 1) << 1

    def exchange(self, i: int, j: int) -> None:
        if not self.alive[j] or self.rng.random() < self.loss:
            return
        self.merge_into(j, i)
        if self.rng.random() < self.loss:
            return
        self.merge_into(i, j)

    def tick(self, i: int, stamp: int) -> None:
        row = self.keys[i]
        row[i] = max(stamp << 1, ((row[i] >> 1) + 1) << 1)  # heartbeat: max(now, last + 1), online
        self.heard[i, i] = self.now
        online = (row & 1) == 0
        age = self.now - self.heard[i]
        live_online = online & self.alive
        live_online[i] = False
        if live_online.any():
            self.max_gap = max(self.max_gap, float(age[live_online].max()))
        expired = online & (age >= self.timeout)
        expired[i] = False
        if expired.any():
            self.false_positives += int((expired & self.alive).sum())
            row[expired] += 3  # 2v -> 2(v+1) + 1: offline, one version newer
        online[i] = False
        peers = np.flatnonzero(online)
        if len(peers):
            j = -1
            if self.monitors and self.rng.random() < PREFERENCE:
                monitors = peers[peers < self.monitors]
                if len(monitors):
                    j = int(monitors[self.rng.randrange(len(monitors))])
            if j < 0:
                j = int(peers[self.rng.randrange(len(peers))])
            self.exchange(i, j)
        offline = np.flatnonzero((row & 1) == 1)
        if len(offline) and self.rng.random() < offline_probe_probability(len(peers) + 1):
            self.exchange(i, int(offline[self.rng.randrange(len(offline))]))


def run(n: int, rounds: int, loss: float, monitors: int, seed: int) -> dict[str, float]:
    timeout = default_failure_timeout(1.0, n)  # in rounds: the interval is the unit
    cluster = Cluster(n, monitors, loss, timeout, seed)
    victim = n - 1
    crash_round = rounds // 2
    seen_offline = np.full(n, np.nan)
    stamp = 0
    for r in range(rounds):
        if r == crash_round:
            cluster.alive[victim] = False
        order = [int(i) for i in np.flatnonzero(cluster.alive)]
        cluster.rng.shuffle(order)
        for k, i in enumerate(order):
            cluster.now = r + k / len(order)
            stamp += 1
            cluster.tick(i, stamp)
        if r >= crash_round:
            marked = ((cluster.keys[:, victim] & 1) == 1) & np.isnan(seen_offline)
            seen_offline[marked] = r + 1
    detection = seen_offline[cluster.alive]
    return {
        "timeout": timeout,
        "false_positives": cluster.false_positives,  # the dead victim is never counted
        "first": float(np.nanmin(detection)) - crash_round,
        "all": float(np.nanmax(detection)) - crash_round if not np.isnan(detection).any() else float("inf"),
        "max_gap": cluster.max_gap,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--loss", type=float, default=0.05)
    args = parser.parse_args()
    began = time.time()
    header = ["N", "monitors", "loss", "timeout (rounds)", "false positives", "longest heartbeat gap (rounds)",
              "crash: first verdict (rounds)", "crash: listed offline everywhere (rounds)"]
    rows: list[list[object]] = []
    for monitors in (0, 3):
        result = run(args.n, args.rounds, args.loss, monitors, seed=monitors)
        rows.append([args.n, monitors, f"{args.loss:.0%}", f"{result['timeout']:.1f}", result["false_positives"],
                     f"{result['max_gap']:.1f}", f"{result['first']:.0f}", f"{result['all']:.0f}"])
        print(" | ".join(str(c) for c in rows[-1]), flush=True)
    print(f"{args.rounds} rounds each; {time.time() - began:.0f}s")
    write_section(
        "failure_detection",
        "## Failure detection (`python bench/failure_detection.py`)\n\n"
        f"{args.n} servers, {args.rounds} rounds, {args.loss:.0%} of messages lost (each leg), default "
        "SHAZBOT_FAILURE_TIMEOUT (interval x (6 + 2 log2 N)); one server crashes half way. A false positive is "
        "one server declaring a live server offline. The longest heartbeat gap is the longest any live server "
        "went without hearing a newer heartbeat of another: the margin the timeout keeps over it.\n\n"
        + table(header, rows)
        + "\n",
    )


if __name__ == "__main__":
    main()
