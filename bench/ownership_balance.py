"""How evenly rendezvous hashing (docs/protocol.md section 8.6) spreads keys
over servers, and what one ``owner()`` call costs.

    python bench/ownership_balance.py

10,000 keys (``key-0`` ... ``key-9999``) over N servers with addresses like
a real cluster's (``http://10.0.x.y:8000/``). For each N: the largest and
smallest load against the mean, and the spread (standard deviation over the
mean) beside what an ideal uniform random assignment gives,
sqrt((N - 1) / keys). Deterministic: the same figures on every run, only the
time per call varies.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import table, write_section
from flask_clustershazbot.protocol.ownership import owner_of

KEYS = 10_000
SIZES = (10, 100, 1000)


def servers(n: int) -> list[str]:
    return [f"http://10.0.{i // 250}.{i % 250 + 1}:8000/" for i in range(n)]


def measure(n: int) -> tuple[float, float, float, float, float]:
    urls = servers(n)
    load = dict.fromkeys(urls, 0)
    started = time.perf_counter()
    for k in range(KEYS):
        owner = owner_of(f"key-{k}", urls)
        assert owner is not None
        load[owner] += 1
    per_call_us = (time.perf_counter() - started) / KEYS * 1e6
    mean = statistics.mean(load.values())
    spread = statistics.pstdev(load.values()) / mean
    return max(load.values()) / mean, min(load.values()) / mean, spread, math.sqrt((n - 1) / KEYS), per_call_us


def main() -> None:
    rows = []
    for n in SIZES:
        high, low, spread, ideal, per_call = measure(n)
        figures = (f"{high:.3f}", f"{low:.3f}", f"{spread:.3f}", f"{ideal:.3f}", f"{per_call:.0f}")
        rows.append((n, KEYS // n, *figures))
        print(f"N={n}: max/mean {high:.3f}, min/mean {low:.3f}, spread {spread:.3f} (ideal {ideal:.3f}), "
              f"{per_call:.0f} us per owner()")
    header = ("servers", "keys per server", "max / mean", "min / mean", "spread (sd / mean)",
              "ideal random spread", "owner() (µs)")
    write_section(
        "ownership_balance",
        "## Key ownership balance (`python bench/ownership_balance.py`)\n\n"
        f"{KEYS:,} keys over N servers by rendezvous hashing (docs/protocol.md section 8.6). The spread is what a "
        "uniform random assignment gives, as it should be: every key goes to the server with the largest of N "
        "independent 64-bit weights. With fewer keys per server the relative spread grows (a few keys more or less "
        "is a large share of 10); it shrinks as keys grow. One `owner()` call hashes the key once per online "
        "server, so it costs time linear in N.\n\n" + table(header, rows),
    )


if __name__ == "__main__":
    main()
