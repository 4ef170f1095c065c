"""A fault-injecting TCP proxy in front of one server, for the chaos suite.

Each inbound connection carries one HTTP request (the proxy adds
``Connection: close``). The proxy reads the request head, learns the sender
from the ``X-Clustershazbot-Sender`` header, and then, by the faults set at
run time: passes it on, drops it (close), resets it (RST), blackholes it
(accepts and never answers), or delays it. Partitions are sets of senders
whose requests are dropped.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections import Counter

SENDER = b"x-clustershazbot-sender:"


class FaultProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.mode = "pass"  # pass | drop | reset | blackhole | delay
        self.delay = 0.0
        self.blocked_senders: set[str] = set()
        self.requests: Counter[str] = Counter()  # sender -> requests that reached the proxy
        self.lock = threading.Lock()
        self._held: list[socket.socket] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/"
        self._running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        self._running = False
        self.listener.close()
        with self.lock:
            for sock in self._held:
                sock.close()

    def count(self, sender: str) -> int:
        with self.lock:
            return self.requests[sender]

    def _accept(self) -> None:
        while self._running:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        client.settimeout(10)
        try:
            head, rest = self._read_head(client)
        except OSError:
            client.close()
            return
        sender = ""
        for line in head.split(b"\r\n"):
            if line.lower().startswith(SENDER):
                sender = line[len(SENDER):].strip().decode(errors="replace")
        with self.lock:
            self.requests[sender] += 1
            mode, blocked = self.mode, sender in self.blocked_senders
        if blocked or mode == "drop":
            client.close()
        elif mode == "reset":
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
        elif mode == "blackhole":
            with self.lock:
                self._held.append(client)  # never answered; closed when the proxy stops
        else:
            if mode == "delay":
                time.sleep(self.delay)
            self._forward(client, head, rest)

    @staticmethod
    def _read_head(client: socket.socket) -> tuple[bytes, bytes]:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = client.recv(65536)
            if not chunk:
                raise OSError("closed before the request head")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        return head, rest

    def _forward(self, client: socket.socket, head: bytes, rest: bytes) -> None:
        lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
        length = 0
        for line in lines:
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        try:
            while len(rest) < length:
                chunk = client.recv(65536)
                if not chunk:
                    break
                rest += chunk
            with socket.create_connection(("127.0.0.1", self.upstream_port), timeout=30) as upstream:
                upstream.sendall(b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + rest)
                while chunk := upstream.recv(65536):
                    client.sendall(chunk)
        except OSError:
            pass
        finally:
            client.close()
