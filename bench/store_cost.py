"""Cost of serving one gossip exchange with the shared SQLite store against the
in-memory store, measured side by side in one run.

    python bench/store_cost.py

An exchange is the whole handler: auth, JSON parse, schema validation, merge
into the store, answer. Each incoming view carries the full cluster with 5% of
the entries newer than before (fresh heartbeats), as in a live cluster.
"shared, other worker wrote" alternates two processes' stores on one file, so
every exchange first reloads what the other process committed.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import table, write_section
from flask_clustershazbot.config import load_config
from flask_clustershazbot.node import ClusterNode
from flask_clustershazbot.web.handlers import RequestHandlers

SECRET = "bench-secret"
REPEATS = 60


def handlers(tmp: Path, state_path: str | None) -> RequestHandlers:
    config = load_config(
        {
            "SHAZBOT_SECRET": SECRET,
            "SHAZBOT_CONTROL_SECRET": "bench-control",
            "SHAZBOT_BASE_URL": "http://self.bench/",
            "SHAZBOT_MASTER_LIST": f"file://{tmp}/list.json",
            "SHAZBOT_MASTER_LIST_UPDATE": f"file://{tmp}/list.json",
        },
        environ={},
    )
    return RequestHandlers(ClusterNode(config, state_path=state_path), config)


def bodies(n: int, count: int) -> list[bytes]:
    base = int(time.time() * 1000) - 60_000
    versions = [base] * n
    out = []
    for round_ in range(count):
        for i in range(round_ % 20, n, 20):  # 5% of the entries change each time
            versions[i] += 1
        online = [{"baseUrl": f"http://s{i}.bench:8000/", "monitor": i % 50 == 0, "lastUpdate": versions[i]}
                  for i in range(n)]
        out.append(json.dumps({"message": "gossip", "online": online, "offline": []}).encode())
    return out


def per_exchange(targets: list[RequestHandlers], payloads: list[bytes]) -> float:
    """Median seconds per exchange; targets take turns."""
    times = []
    for i, body in enumerate(payloads):
        target = targets[i % len(targets)]
        began = time.perf_counter()
        target.gossip_request(f"Bearer {SECRET}", body)
        times.append(time.perf_counter() - began)
    return statistics.median(times[5:])


def main() -> None:
    header = ('servers', 'memory ms', 'shared ms', 'ratio', 'shared, other worker wrote ms', 'ratio')
    print("{:>8} {:>10} {:>10} {:>6} {:>30} {:>6}".format(*header))
    rows: list[list[object]] = []
    for n in (100, 1000):
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            payloads = bodies(n, REPEATS)
            memory = handlers(tmp, None)
            shared = handlers(tmp, str(tmp / "a.sqlite3"))
            worker_a = handlers(tmp, str(tmp / "b.sqlite3"))
            worker_b = handlers(tmp, str(tmp / "b.sqlite3"))
            # warm up every store with the first view
            for target in (memory, shared, worker_a, worker_b):
                target.gossip_request(SECRET, payloads[0])
            results = {"memory": [], "shared": [], "alternating": []}  # type: dict[str, list[float]]
            for _ in range(3):  # interleave the three so machine noise hits all alike
                results["memory"].append(per_exchange([memory], payloads))
                results["shared"].append(per_exchange([shared], payloads))
                results["alternating"].append(per_exchange([worker_a, worker_b], payloads))
            mem, sh, alt = (min(results[k]) * 1000 for k in ("memory", "shared", "alternating"))
            print(f"{n:>8} {mem:>10.2f} {sh:>10.2f} {sh / mem:>6.2f} {alt:>30.2f} {alt / mem:>6.2f}")
            rows.append([n, f"{mem:.2f}", f"{sh:.2f}", f"{sh / mem:.2f}x", f"{alt:.2f}", f"{alt / mem:.2f}x"])
    write_section(
        "store_cost",
        "## Shared store (`python bench/store_cost.py`)\n\nServing one gossip exchange with the SQLite store that "
        "gunicorn workers share, against the in-memory store of a single process; the last columns alternate two "
        "processes' stores on one file, so every exchange first reloads what the other committed.\n\n"
        + table(["servers", "memory (ms)", "shared (ms)", "ratio", "shared, other worker wrote (ms)", "ratio"], rows)
        + "\n",
    )


if __name__ == "__main__":
    main()
