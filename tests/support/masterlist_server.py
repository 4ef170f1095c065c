"""A real HTTP master-list store for tests: GET/PUT of one JSON document with
ETags, If-Match (412 on mismatch) and an Authorization check on writes."""

from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from flask_clustershazbot.wire import load_server_list, parse_json


class MasterListServer:
    def __init__(self, auth: str = "Bearer store-secret", port: int = 0, require_auth_on_read: bool = False) -> None:
        self.auth = auth
        self.require_auth_on_read = require_auth_on_read
        self.body: bytes | None = None
        self.lock = threading.Lock()
        self.puts = 0
        self.precondition_failures = 0
        self.unauthorized = 0
        self.seen_authorization: list[str] = []
        #: The If-Match header of every PUT (None when absent), in order.
        self.seen_if_match: list[str | None] = []
        store = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes = b"", etag: str | None = None) -> None:
                self.send_response(status)
                if etag:
                    self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if store.require_auth_on_read and self.headers.get("Authorization") != store.auth:
                    self._send(401)
                    return
                with store.lock:
                    body = store.body
                if body is None:
                    self._send(404)
                else:
                    self._send(200, body, store.etag_of(body))

            def do_PUT(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with store.lock:
                    store.seen_authorization.append(self.headers.get("Authorization", ""))
                if self.headers.get("Authorization") != store.auth:
                    with store.lock:
                        store.unauthorized += 1
                    self._send(401)
                    return
                with store.lock:
                    if_match = self.headers.get("If-Match")
                    store.seen_if_match.append(if_match)
                    if if_match is not None and (store.body is None or if_match != store.etag_of(store.body)):
                        store.precondition_failures += 1
                        self._send(412)
                        return
                    store.body = body
                    store.puts += 1
                self._send(204)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/masterlist.json"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @staticmethod
    def etag_of(body: bytes) -> str:
        return '"' + hashlib.sha256(body).hexdigest()[:16] + '"'

    def start(self) -> MasterListServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def document(self) -> dict[str, Any] | None:
        with self.lock:
            return None if self.body is None else parse_json(self.body)

    def statuses(self) -> dict[str, bool]:
        """base URL -> online, as stored."""
        doc = self.document()
        if doc is None:
            return {}
        return {e.base_url: e.online for e in load_server_list(doc)}
