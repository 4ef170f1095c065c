"""A stand-in cluster member for tests: answers gossip with its own fresh
entry and records every exchange it receives."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Exchange:
    at: float  # time.monotonic() when received
    statuses: dict[str, bool]  # base URL -> online, as the sender sent it


class StubPeer:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.exchanges: list[Exchange] = []
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Authorization") not in (f"Bearer {stub.secret}", stub.secret):
                    self.send_response(401)
                    self.end_headers()
                    return
                data = json.loads(body)
                statuses = {s["baseUrl"]: True for s in data.get("online", [])}
                statuses.update({s["baseUrl"]: False for s in data.get("offline", [])})
                with stub.lock:
                    stub.exchanges.append(Exchange(time.monotonic(), statuses))
                answer = json.dumps({"message": "gossip", "online": [stub.entry()], "offline": []}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def entry(self) -> dict[str, Any]:
        return {"baseUrl": self.base_url, "monitor": False, "lastUpdate": int(time.time() * 1000)}

    def start(self) -> StubPeer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def count(self, since: float = 0.0, until: float = float("inf")) -> int:
        with self.lock:
            return sum(1 for e in self.exchanges if since <= e.at < until)

    def said_offline(self, base_url: str, since: float = 0.0) -> int:
        """How many exchanges carried ``base_url`` as offline."""
        with self.lock:
            return sum(1 for e in self.exchanges if e.at >= since and e.statuses.get(base_url) is False)

    def last_status(self, base_url: str) -> bool | None:
        with self.lock:
            return self.exchanges[-1].statuses.get(base_url) if self.exchanges else None
