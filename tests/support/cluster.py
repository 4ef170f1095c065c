"""Real cluster members in subprocesses on 127.0.0.1, running examples/app.py."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from flask_clustershazbot.wire import load_server_list, parse_json

from .waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
GOSSIP_SECRET = "test-gossip-secret"
CONTROL_SECRET = "test-control-secret"

#: Fast protocol timings for tests; failure timeout generous for a loaded machine.
FAST = {
    "SHAZBOT_GOSSIP_INTERVAL": "0.2",
    "SHAZBOT_MASTER_ANNOUNCE_MINIMUM": "0.2",
    "SHAZBOT_MASTER_ANNOUNCE_INTERVAL": "0.6",
    "SHAZBOT_FAILURE_TIMEOUT": "3",
    "SHAZBOT_REQUEST_TIMEOUT": "2",
    "SHAZBOT_UPDATE_MASTER_LIST_ON_SHUTDOWN": "true",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One cluster member: ``python examples/app.py`` with SHAZBOT_* in its environment."""

    def __init__(
        self, name: str, env: dict[str, str], log_dir: Path, port: int | None = None, prefix: list[str] | None = None
    ) -> None:
        self.name = name
        self.prefix = prefix or []  # e.g. ["faketime", "-f", "+600s"]
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/"
        self.env = {**env, "SHAZBOT_BASE_URL": self.base_url}
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        env = {**os.environ, **self.env, "PYTHONPATH": str(ROOT)}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*self.prefix, sys.executable, str(ROOT / "examples" / "app.py")],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(self.is_serving, timeout=30, what=f"{self.name} to serve")
        return self

    def is_serving(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.process.returncode}: {self.log_tail()}")
        try:
            return self.get_list().status_code == 200
        except requests.RequestException:
            return False

    def url(self, name: str) -> str:
        return f"{self.base_url}clustershazbot/{name}"

    def get_list(self, secret: str = GOSSIP_SECRET) -> requests.Response:
        return requests.get(self.url("list"), headers={"Authorization": f"Bearer {secret}"}, timeout=5)

    def view(self) -> dict[str, bool]:
        """base URL -> online, as this server sees it."""
        response = self.get_list()
        response.raise_for_status()
        return {e.base_url: e.online for e in load_server_list(parse_json(response.content))}

    def raw_view(self) -> dict[str, Any]:
        response = self.get_list()
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def control(self, online: bool) -> requests.Response:
        return requests.post(
            self.url("control"),
            json={"message": "control", "online": online},
            headers={"Authorization": f"Bearer {CONTROL_SECRET}"},
            timeout=5,
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        """Stop the process (SIGTERM: a graceful leave; SIGKILL: a crash)."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        # The whole process group: a wrapper such as faketime runs the server
        # as its child.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def base_env(master_list_url: str, update_url: str | None = None, auth: str = "Bearer store-secret") -> dict[str, str]:
    return {
        "SHAZBOT_SECRET": GOSSIP_SECRET,
        "SHAZBOT_CONTROL_SECRET": CONTROL_SECRET,
        "SHAZBOT_MASTER_LIST": master_list_url,
        "SHAZBOT_MASTER_LIST_UPDATE": update_url or master_list_url,
        "SHAZBOT_MASTER_LIST_UPDATE_AUTH": auth,
        **FAST,
    }
