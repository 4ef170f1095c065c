"""A hostile HTTP server for tests: answers every request with ``200`` and then
sends its body (or its headers) one byte at a time, so that no single socket
read ever waits long enough for a per-read timeout to fire."""

from __future__ import annotations

import socket
import threading
import time

from .raw_http import RawHttpServer


class DripServer(RawHttpServer):
    """Listens on 127.0.0.1; ``url`` is its base URL (with a trailing slash).

    ``mode="body"`` sends a complete status line and headers, then drips the
    body; ``mode="headers"`` drips the status line and headers themselves;
    ``mode="stall"`` sends the headers and the first 20 bytes of the body,
    then nothing more until the client gives up.
    """

    def __init__(self, *, delay: float = 0.5, body: bytes = b'{"online": []}' * 50, mode: str = "body") -> None:
        self.delay = delay
        self.body = body
        self.mode = mode
        self.hits = 0
        self.open_connections = 0
        self._lock = threading.Lock()
        super().__init__()

    def _serve(self, conn: socket.socket) -> None:
        with self._lock:
            self.hits += 1
            self.open_connections += 1
        try:
            self.read_request(conn)
            head = (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + b'ETag: "drip"\r\n'
                + f"Content-Length: {len(self.body)}\r\n\r\n".encode()
            )
            if self.mode == "stall":
                conn.sendall(head + self.body[:20])
                while not self._stop.wait(0.1):
                    pass
                return
            if self.mode == "headers":
                payload, dripped = b"", head + self.body
            else:
                payload, dripped = head, self.body
            conn.sendall(payload)
            for byte in dripped:
                if self._stop.wait(self.delay):
                    return
                conn.sendall(bytes([byte]))
            time.sleep(0.1)
        except OSError:
            pass  # the client gave up: that is the point
        finally:
            with self._lock:
                self.open_connections -= 1
            conn.close()
