"""A real gunicorn server (examples.app under examples/gunicorn.conf.py) for tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests

from .cluster import GOSSIP_SECRET, ROOT, free_port
from .leader import lock_holder
from .waiting import wait_until


def children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_bytes()
            except OSError:
                continue
            fields = stat.rsplit(b")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != b"Z":
                found.add(int(entry))
    return found


def _quiet_flags() -> list[str]:
    """Newer gunicorn masters open a control socket in ~/.gunicorn; tests run
    several masters at once, so they go without."""
    from gunicorn import config

    return ["--no-control-socket"] if hasattr(config, "ControlSocketDisable") else []


class GunicornServer:
    def __init__(self, env: dict[str, str], tmp: Path, workers: int, extra: list[str] | None = None,
                 *, scheme: str = "http", request_args: dict[str, Any] | None = None,
                 port: int | None = None, app: str = "examples.app:app") -> None:
        """``scheme`` "https" when ``extra`` has gunicorn's TLS flags;
        ``request_args`` (``verify``, ``cert``) for the test's own calls;
        ``port`` to reuse one (a restart), else a free one; ``app`` the WSGI
        app gunicorn serves."""
        self.port = port or free_port()
        self.base_url = f"{scheme}://127.0.0.1:{self.port}/"
        self.request_args = request_args or {}
        self.state_path = tmp / "state.sqlite3"
        self.env = {**os.environ, **env, "SHAZBOT_BASE_URL": self.base_url, "SHAZBOT_STATE_PATH": str(self.state_path),
                    "PYTHONPATH": str(ROOT)}
        self.args = [
            sys.executable, "-m", "gunicorn", "-c", str(ROOT / "examples" / "gunicorn.conf.py"),
            "-w", str(workers), "-b", f"127.0.0.1:{self.port}", "--graceful-timeout", "20",
            *_quiet_flags(), *(extra or []), app,
        ]
        self.log_path = tmp / f"gunicorn-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> GunicornServer:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.args, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        wait_until(self.serving, timeout=30, what="gunicorn to serve")
        return self

    def serving(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"gunicorn exited: {self.log_path.read_text()[-3000:]}")
        try:
            return self.list().status_code == 200
        except requests.RequestException:
            return False

    def list(self) -> requests.Response:
        return requests.get(f"{self.base_url}clustershazbot/list", headers={"Authorization": GOSSIP_SECRET},
                            timeout=5, **self.request_args)

    def control(self, online: bool) -> requests.Response:
        from .cluster import CONTROL_SECRET

        return requests.post(f"{self.base_url}clustershazbot/control", json={"message": "control", "online": online},
                             headers={"Authorization": CONTROL_SECRET}, timeout=5, **self.request_args)

    def workers(self) -> set[int]:
        assert self.process is not None
        return children(self.process.pid)

    def leader(self) -> int | None:
        return lock_holder(f"{self.state_path}.lock")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 40) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait()

    def kill_all(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
