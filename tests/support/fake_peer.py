"""A fake peer that answers every POST with one fixed (or freshly made) response."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakePeer:
    def __init__(
        self,
        status: int,
        body: bytes | Callable[[], bytes] = b"",
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.hits = 0
        self.bodies: list[bytes] = []
        self.authorizations: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                fake.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                fake.hits += 1
                fake.authorizations.append(self.headers.get("Authorization", ""))
                payload = body() if callable(body) else body
                self.send_response(status)
                for key, value in {"Content-Type": content_type, **(headers or {})}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                with contextlib.suppress(OSError):  # the client may hang up on a huge body
                    self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
