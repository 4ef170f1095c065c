"""A real HAProxy (Debian's /usr/sbin/haproxy) in front of test servers,
health-checking ``/clustershazbot/health`` as docs/rolling-restarts.md says."""

from __future__ import annotations

import contextlib
import socket
import subprocess
from pathlib import Path

from .cluster import free_port
from .waiting import wait_until

HAPROXY = Path("/usr/sbin/haproxy")

#: The backend of docs/rolling-restarts.md: down after 2 failed checks 500 ms
#: apart, so a server that answers 503 is out of rotation within about 1 s.
BACKEND = """\
backend shazbot
    balance roundrobin
    option httpchk GET /clustershazbot/health
    default-server inter 500ms fall 2 rise 2
"""


def config_text(port: int, backends: dict[str, int], stats_socket: Path) -> str:
    """An HAProxy configuration: a frontend on ``port`` and one server per
    ``backends`` entry (name -> port on 127.0.0.1)."""
    servers = "".join(f"    server {name} 127.0.0.1:{backend} check\n" for name, backend in backends.items())
    return f"""\
global
    stats socket {stats_socket} mode 600 level admin
    maxconn 256

defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s

frontend clients
    bind 127.0.0.1:{port}
    default_backend shazbot

{BACKEND}{servers}"""


class HAProxy:
    """HAProxy in the foreground (``-db``) as a child; stopped by its pid."""

    def __init__(self, backends: dict[str, int], tmp: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.stats_socket = tmp / "haproxy.sock"
        self.config_path = tmp / "haproxy.cfg"
        self.config_path.write_text(config_text(self.port, backends, self.stats_socket))
        self.log_path = tmp / "haproxy.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> HAProxy:
        check = subprocess.run([str(HAPROXY), "-c", "-f", str(self.config_path)], capture_output=True, check=False)
        assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([str(HAPROXY), "-db", "-f", str(self.config_path)], stdout=log,
                                            stderr=subprocess.STDOUT)
        wait_until(self.stats_socket.exists, timeout=10, what="haproxy to start")
        return self

    def command(self, line: str) -> str:
        """One command on the stats socket; its answer."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(str(self.stats_socket))
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def statuses(self) -> dict[str, str]:
        """Server name -> HAProxy's status of it ("UP", "DOWN", "UP 1/2"...)."""
        lines = self.command("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        name, status = header.index("svname"), header.index("status")
        rows = [line.split(",") for line in lines[1:] if line]
        return {row[name]: row[status] for row in rows if row[name] not in ("FRONTEND", "BACKEND")}

    def wait_status(self, server: str, status: str, timeout: float = 30) -> None:
        wait_until(lambda: self.statuses().get(server) == status, timeout=timeout,
                   what=f"haproxy to see {server} {status}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                self.process.wait()
