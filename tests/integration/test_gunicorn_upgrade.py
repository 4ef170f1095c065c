"""A gunicorn USR2 upgrade that is aborted: the new master exits while the
old one keeps serving, so nobody may announce the server offline; the old
master says goodbye once when it stops for real."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ..support.cluster import Server, base_env
from ..support.gunicorn_server import GunicornServer, children
from ..support.waiting import wait_until

StartServer = Callable[..., Server]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0] != b"Z"


def test_an_aborted_upgrade_does_not_take_the_server_offline(servers: StartServer, tmp_path: Path) -> None:
    listing = tmp_path / "list.json"
    env = {**base_env(f"file://{listing}"), "SHAZBOT_FAILURE_TIMEOUT": "120",
           "SHAZBOT_UPDATE_MASTER_LIST_ON_SHUTDOWN": "false"}
    pidfile = tmp_path / "gunicorn.pid"
    server = GunicornServer(env, tmp_path, workers=2, extra=["--pid", str(pidfile)])
    # The console script, not "python -m gunicorn": USR2 re-executes argv, and
    # gunicorn/__main__.py run as a script puts gunicorn/ (with its own
    # "http" package) first on sys.path.
    assert server.args[1:3] == ["-m", "gunicorn"]
    server.args[0:3] = [str(Path(sys.executable).with_name("gunicorn"))]
    observer = servers("observer", env)
    try:
        server.start()
        wait_until(lambda: observer.view().get(server.base_url) is True, timeout=30,
                   what="the observer to see the gunicorn server")
        assert server.process is not None
        old_master = server.process.pid

        os.kill(old_master, signal.SIGUSR2)
        new_pidfile = Path(f"{pidfile}.2")
        wait_until(lambda: new_pidfile.exists() and new_pidfile.read_text().strip(), timeout=30,
                   what="the new master to start")
        new_master = int(new_pidfile.read_text().strip())
        wait_until(lambda: len(children(new_master)) >= 2, timeout=30, what="the new master's workers")

        os.kill(new_master, signal.SIGTERM)  # abort the upgrade
        wait_until(lambda: not alive(new_master), timeout=30, what="the new master to exit")
        # Several gossip intervals: the server is still online everywhere.
        end = time.monotonic() + 3
        while time.monotonic() < end:
            assert observer.view().get(server.base_url) is True, "an aborted upgrade announced the server offline"
            time.sleep(0.2)

        server.stop(timeout=30)  # the old master stops for real: one goodbye
        wait_until(lambda: observer.view().get(server.base_url) is False, timeout=15,
                   what="the observer to hear the goodbye")
    finally:
        server.kill_all()
