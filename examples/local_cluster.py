"""A small cluster on this machine: watch servers join, drain, leave and crash.

    python examples/local_cluster.py

Starts four servers (examples/app.py) on 127.0.0.1 that share a file://
master list, with a 0.3 s gossip interval, and prints every server's view as
the cluster changes. It stops everything it started and ends by itself.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
GOSSIP_SECRET = "demo-gossip-secret"
CONTROL_SECRET = "demo-control-secret"
NAMES = ["A", "B", "C", "D"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DemoServer:
    def __init__(self, name: str, workdir: Path, master_list: str, monitor: bool) -> None:
        self.name = name
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/"
        self.log_path = workdir / f"server-{name}.log"
        self.env = {
            **os.environ,
            "SHAZBOT_SECRET": GOSSIP_SECRET,
            "SHAZBOT_CONTROL_SECRET": CONTROL_SECRET,
            "SHAZBOT_BASE_URL": self.base_url,
            "SHAZBOT_MASTER_LIST": master_list,
            "SHAZBOT_MASTER_LIST_UPDATE": master_list,
            "SHAZBOT_MONITOR": "true" if monitor else "false",
            "SHAZBOT_GOSSIP_INTERVAL": "0.3",
            "SHAZBOT_FAILURE_TIMEOUT": "3",
            "SHAZBOT_MASTER_ANNOUNCE_MINIMUM": "0.5",
            "SHAZBOT_MASTER_ANNOUNCE_INTERVAL": "1.5",
            "SHAZBOT_UPDATE_MASTER_LIST_ON_SHUTDOWN": "true",
            "SHAZBOT_REQUEST_TIMEOUT": "2",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(HERE / "app.py")],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so we can stop all of it
            )

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def view(self) -> dict[str, bool] | None:
        try:
            response = requests.get(
                f"{self.base_url}clustershazbot/list",
                headers={"Authorization": f"Bearer {GOSSIP_SECRET}"},
                timeout=2,
            )
            data = response.json()
        except (requests.RequestException, ValueError):
            return None
        view = {s["baseUrl"]: True for s in data.get("online", [])}
        view.update({s["baseUrl"]: False for s in data.get("offline", [])})
        return view

    def control(self, online: bool) -> None:
        requests.post(
            f"{self.base_url}clustershazbot/control",
            json={"message": "control", "online": online},
            headers={"Authorization": f"Bearer {CONTROL_SECRET}"},
            timeout=5,
        ).raise_for_status()

    def stop(self, sig: int) -> None:
        if self.alive:
            assert self.process is not None
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


class Demo:
    def __init__(self, workdir: Path) -> None:
        self.master_list_path = workdir / "masterlist.json"
        url = self.master_list_path.as_uri()
        self.servers = [DemoServer(n, workdir, url, monitor=(n == "A")) for n in NAMES]
        self.started = time.monotonic()

    def by_name(self, name: str) -> DemoServer:
        return next(s for s in self.servers if s.name == name)

    def say(self, text: str) -> None:
        print(f"\n[{time.monotonic() - self.started:5.1f}s] {text}", flush=True)

    def show(self) -> None:
        print(("          " + "".join(f"{s.name:<9}" for s in self.servers)).rstrip())
        for observer in self.servers:
            view = observer.view() if observer.alive else None
            if view is None:
                print(f"  {observer.name} sees  (not running)")
                continue
            cells = []
            for target in self.servers:
                status = view.get(target.base_url)
                cells.append("-" if status is None else "online" if status else "offline")
            print((f"  {observer.name} sees  " + "".join(f"{c:<9}" for c in cells)).rstrip())

    def wait(self, what: str, condition: Callable[[], bool], timeout: float = 30) -> None:
        began = time.monotonic()
        while not condition():
            if time.monotonic() - began > timeout:
                self.show()
                raise SystemExit(f"FAILED: {what} did not happen within {timeout:.0f}s")
            time.sleep(0.1)
        print(f"  -> {what} after {time.monotonic() - began:.1f}s")
        self.show()

    def everyone_running_sees(self, statuses: dict[str, bool | None]) -> bool:
        for observer in self.servers:
            if not observer.alive:
                continue
            view = observer.view()
            if view is None:
                return False
            for name, status in statuses.items():
                if view.get(self.by_name(name).base_url) is not status:
                    return False
        return True

    def stored(self) -> dict[str, bool]:
        try:
            data = json.loads(self.master_list_path.read_text())
        except (OSError, ValueError):
            return {}
        names = {s.base_url: s.name for s in self.servers}
        stored = {names.get(s["baseUrl"], s["baseUrl"]): True for s in data.get("online", [])}
        stored.update({names.get(s["baseUrl"], s["baseUrl"]): False for s in data.get("offline", [])})
        return stored

    def run(self) -> None:
        self.say(f"Starting {len(self.servers)} servers; master list: {self.master_list_path.as_uri()}")
        for server in self.servers:
            server.start()
            print(f"  {server.name}: {server.base_url}{'  (monitor)' if server.name == 'A' else ''}")
        self.wait("every server sees all four online", lambda: self.everyone_running_sees(dict.fromkeys(NAMES, True)))
        self.wait("the master list holds all four", lambda: self.stored() == dict.fromkeys(NAMES, True))

        self.say("Draining B: POST /clustershazbot/control {\"online\": false}")
        self.by_name("B").control(False)
        self.wait("everyone sees B offline (B keeps serving)", lambda: self.everyone_running_sees({"B": False}))

        self.say("Bringing B back: POST /clustershazbot/control {\"online\": true}")
        self.by_name("B").control(True)
        self.wait("everyone sees B online", lambda: self.everyone_running_sees({"B": True}))

        self.say("Stopping C gracefully (SIGTERM): it says goodbye and updates the master list")
        self.by_name("C").stop(signal.SIGTERM)
        self.wait("everyone sees C offline", lambda: self.everyone_running_sees({"C": False}))
        self.wait("the master list shows C offline", lambda: self.stored().get("C") is False)

        self.say(
            "Killing D (SIGKILL): no goodbye; the others notice a failed exchange that witnesses confirm"
            " (or the missing heartbeat, timeout 3s)"
        )
        self.by_name("D").stop(signal.SIGKILL)
        self.wait("everyone sees D offline", lambda: self.everyone_running_sees({"D": False}))

        self.say("Restarting D on the same address")
        self.by_name("D").start()
        self.wait("everyone sees D online again", lambda: self.everyone_running_sees({"D": True}))

    def stop_all(self) -> None:
        self.say("Stopping every server this demo started")
        for server in self.servers:
            server.stop(signal.SIGTERM)
        print("  done; server logs were in the temporary folder, now removed")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="shazbot-demo-") as tmp:
        demo = Demo(Path(tmp))
        try:
            demo.run()
        finally:
            demo.stop_all()


if __name__ == "__main__":
    main()
