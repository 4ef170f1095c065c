"""Resident memory of a server holding 10,000 entries, over an empty one.

    python bench/memory.py

Starts examples/app.py (one process, in-memory store), measures its RSS,
gossips 10,000 servers into it and measures again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.http_throughput import free_port
from bench.report import ROOT, table, write_section

SECRET = "bench-gossip"
ENTRIES = 10_000


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def gossip(port: int, entries: list[dict[str, object]]) -> None:
    response = requests.post(
        f"http://127.0.0.1:{port}/clustershazbot/gossip",
        data=json.dumps({"message": "gossip", "online": entries}),
        headers={"Authorization": SECRET, "Content-Type": "application/json"},
        timeout=60,
    )
    response.raise_for_status()


def main() -> None:
    now = int(time.time() * 1000)
    servers = [{"baseUrl": f"https://app-{i:05d}.internal.example:8443/", "monitor": i < 3, "lastUpdate": now}
               for i in range(ENTRIES)]
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {
            **os.environ,
            "SHAZBOT_SECRET": SECRET,
            "SHAZBOT_CONTROL_SECRET": "bench-control",
            "SHAZBOT_BASE_URL": f"http://127.0.0.1:{port}/",
            "SHAZBOT_MASTER_LIST": (Path(tmp) / "list.json").as_uri(),
            "SHAZBOT_MASTER_LIST_UPDATE": (Path(tmp) / "list.json").as_uri(),
            "SHAZBOT_GOSSIP_INTERVAL": "3600",
        }
        server = subprocess.Popen([sys.executable, str(ROOT / "examples" / "app.py")], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    gossip(port, servers[:10])  # warm: imports, caches, first request
                    break
                except requests.RequestException:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            empty = rss_kib(server.pid)
            gossip(port, servers)
            gossip(port, servers)  # and answer once more with the full view
            full = rss_kib(server.pid)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(30)
    delta = full - empty
    header = ["entries", "RSS empty (MiB)", "RSS with entries (MiB)", "difference (MiB)", "per entry (bytes)"]
    rows = [[ENTRIES, f"{empty / 1024:.1f}", f"{full / 1024:.1f}", f"{delta / 1024:.1f}",
             f"{delta * 1024 / ENTRIES:.0f}"]]
    print(table(header, rows))
    write_section(
        "memory",
        "## Memory (`python bench/memory.py`)\n\nResident memory of `examples/app.py` (one process, in-memory "
        f"store) holding {ENTRIES:,} entries, over the same server holding ten.\n\n" + table(header, rows) + "\n",
    )


if __name__ == "__main__":
    main()
