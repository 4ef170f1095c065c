"""Gossip exchanges per second over HTTP, against a plain Flask endpoint that
echoes the same JSON, on one gunicorn server in the same run; and the bytes a
server sends per gossip round.

    python bench/http_throughput.py
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import ROOT, table, write_section
from bench.store_cost import bodies
from flask_clustershazbot.protocol.model import ServerEntry
from flask_clustershazbot.wire import encode_gossip

SECRET = "bench-gossip"
ENTRIES = 100
CLIENTS = 4
WORKERS = 2
BLOCK_SECONDS = 3.0
BLOCKS = 3


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load(port: int, path: str, payloads: list[bytes], seconds: float) -> int:
    """Requests completed by CLIENTS threads in ``seconds``."""
    done = [0] * CLIENTS
    stop = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"}

    def client(k: int) -> None:
        i = k
        while time.monotonic() < stop:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("POST", path, body=payloads[i % len(payloads)], headers=headers)
            response = conn.getresponse()
            response.read()
            conn.close()
            if response.status == 200:
                done[k] += 1
            i += CLIENTS

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done)


def wait_until_serving(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("POST", "/echo", body=b"{}")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def bytes_per_round(n: int) -> tuple[int, int]:
    """(view size, bytes a server sends per round): per round each server sends
    one request and, on average, answers one, each carrying its whole view,
    plus HTTP headers (about 250 bytes each way)."""
    view = [ServerEntry(f"https://app-{i:05d}.internal.example:8443/", i < 3, 1_800_000_000_000 + i, True)
            for i in range(n)]
    size = len(encode_gossip(view))
    return size, 2 * (size + 250)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        master_list = Path(tmp) / "list.json"
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "SHAZBOT_SECRET": SECRET,
            "SHAZBOT_CONTROL_SECRET": "bench-control",
            "SHAZBOT_BASE_URL": f"http://127.0.0.1:{port}/",
            "SHAZBOT_MASTER_LIST": master_list.as_uri(),
            "SHAZBOT_MASTER_LIST_UPDATE": master_list.as_uri(),
            "SHAZBOT_STATE_PATH": str(Path(tmp) / "state.sqlite3"),
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "examples" / "gunicorn.conf.py"), "-w", str(WORKERS),
             "-b", f"127.0.0.1:{port}", "--log-level", "warning", "bench.echo_app:app"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        try:
            wait_until_serving(port)
            payloads = bodies(ENTRIES, 3000)
            gossip = echo = 0
            for _ in range(BLOCKS):  # interleaved blocks: load on the machine hits both alike
                gossip += load(port, "/clustershazbot/gossip", payloads, BLOCK_SECONDS)
                echo += load(port, "/echo", payloads, BLOCK_SECONDS)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(30)
    seconds = BLOCKS * BLOCK_SECONDS
    rows = [[ENTRIES, WORKERS, CLIENTS, f"{gossip / seconds:.0f}", f"{echo / seconds:.0f}", f"{gossip / echo:.2f}"]]
    header = ["entries per message", "gunicorn workers", "clients", "gossip exchanges/s", "plain echo requests/s",
              "ratio"]
    print(table(header, rows))
    size_rows = []
    for n in (100, 1000):
        size, sent = bytes_per_round(n)
        size_rows.append([n, f"{size / 1024:.1f} KiB", f"{sent / 1024:.1f} KiB"])
    size_header = ["servers", "one view on the wire", "sent per server per round"]
    print(table(size_header, size_rows))
    write_section(
        "http_throughput",
        "## HTTP throughput (`python bench/http_throughput.py`)\n\n"
        f"One gunicorn server (`-w {WORKERS}`, sync workers, the shared SQLite store), {CLIENTS} client threads on "
        "the same 2-core machine, a new connection per request, interleaved blocks of "
        f"{BLOCK_SECONDS:.0f} s: POST /clustershazbot/gossip against a plain Flask endpoint that parses and "
        "re-encodes the same JSON.\n\n"
        + table(header, rows)
        + "\n\nBytes a server sends per gossip round (its request, and on average one answer, each carrying its "
        "whole view, plus about 250 bytes of HTTP headers each way; offline probes add a little):\n\n"
        + table(size_header, size_rows)
        + "\n",
    )


if __name__ == "__main__":
    main()
