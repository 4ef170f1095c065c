"""A raw-socket HTTP server on 127.0.0.1 for hostile test peers and stores:
subclasses decide, byte by byte, what to send back (``_serve``)."""

from __future__ import annotations

import socket
import threading
from typing import Any


class RawHttpServer:
    """Accepts connections in a thread and hands each to ``_serve`` in its own
    thread; ``port`` and ``url`` (with a trailing slash) name it."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> Any:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:  # including the listener's 0.2 s timeout
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    @staticmethod
    def read_request(conn: socket.socket) -> str:
        """Read one request (head and body); return its method, or "" if the
        client closed. Answers ``Expect: 100-continue`` as S3 clients want."""
        conn.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return ""
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
            if name.strip().lower() == b"expect" and b"100" in value:
                conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        while len(rest) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            rest += chunk
        return lines[0].split(b" ")[0].decode("ascii", "replace")
