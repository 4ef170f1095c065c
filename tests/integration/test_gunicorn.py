"""One server, several gunicorn workers: one shared view, one gossip loop,
one goodbye (docs/protocol.md section 7). Real gunicorn processes on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..support.cluster import CONTROL_SECRET, GOSSIP_SECRET
from ..support.gunicorn_server import GunicornServer
from ..support.stub_peer import StubPeer
from ..support.waiting import wait_until

INTERVAL = 0.25
WINDOW = 4.0
ONE_LOOP = WINDOW / INTERVAL  # exchanges one loop makes in the window


@pytest.fixture(params=[False, True], ids=["no-preload", "preload"])
def preload(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def stub() -> Iterator[StubPeer]:
    peer = StubPeer(GOSSIP_SECRET).start()
    yield peer
    peer.stop()


@pytest.fixture
def start_gunicorn(tmp_path: Path, stub: StubPeer, preload: bool) -> Iterator[object]:
    started: list[GunicornServer] = []
    master_list = tmp_path / "masterlist.json"
    master_list.write_text(json.dumps({"online": [stub.entry()], "offline": []}))

    def start(workers: int = 3, extra: list[str] | None = None) -> GunicornServer:
        env = {
            "SHAZBOT_SECRET": GOSSIP_SECRET,
            "SHAZBOT_CONTROL_SECRET": CONTROL_SECRET,
            "SHAZBOT_MASTER_LIST": master_list.as_uri(),
            "SHAZBOT_MASTER_LIST_UPDATE": master_list.as_uri(),
            "SHAZBOT_GOSSIP_INTERVAL": str(INTERVAL),
            "SHAZBOT_FAILURE_TIMEOUT": "30",
            "SHAZBOT_MASTER_ANNOUNCE_MINIMUM": "60",
            "SHAZBOT_UPDATE_MASTER_LIST_ON_SHUTDOWN": "true",
        }
        server = GunicornServer(env, tmp_path, workers, [*(extra or []), *(["--preload"] if preload else [])])
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.kill_all()


def stored_status(path: Path, base_url: str) -> bool | None:
    data = json.loads(path.read_text())
    return {s["baseUrl"]: online for key, online in (("online", True), ("offline", False)) for s in data[key]}.get(
        base_url
    )


def rate_is_one_loop(stub: StubPeer) -> int:
    began = time.monotonic()
    time.sleep(WINDOW)  # measuring a rate needs a window of time
    count = stub.count(began, began + WINDOW)
    # One loop with ±10% jitter makes ~16 exchanges here; three loops ~48.
    assert 0.4 * ONE_LOOP <= count <= 1.6 * ONE_LOOP, count
    return count


def test_one_gossip_loop_per_server_and_takeover_after_kill(start_gunicorn, stub: StubPeer) -> None:  # type: ignore[no-untyped-def]
    server = start_gunicorn(workers=3)
    wait_until(lambda: stub.count() > 0 and len(server.workers()) == 3, timeout=20, what="3 workers gossiping")
    rate_is_one_loop(stub)

    leader = wait_until(server.leader, what="a leader")
    assert leader in server.workers()
    os.kill(leader, signal.SIGKILL)
    killed_at = time.monotonic()
    new_leader = wait_until(lambda: server.leader() not in (None, leader) and server.leader(), timeout=20,
                            what="another worker to lead")
    assert new_leader in server.workers()
    wait_until(lambda: stub.count(killed_at + 0.5) > 0, timeout=5 * INTERVAL + 5, what="gossip to resume")
    rate_is_one_loop(stub)


def test_every_worker_gives_the_same_view_and_control_acts_for_the_server(  # type: ignore[no-untyped-def]
    start_gunicorn, stub: StubPeer
) -> None:
    server = start_gunicorn(workers=3)
    wait_until(lambda: stub.count() > 0, timeout=20, what="the first exchange")
    answers = [server.list().json() for _ in range(30)]
    # Heartbeats may land between two calls (lastUpdate moves), the
    # membership may not.
    def statuses(answer: dict[str, list[dict[str, object]]]) -> dict[object, bool]:
        return {s["baseUrl"]: online for online in (True, False)
                for s in answer.get("online" if online else "offline", [])}

    assert all(statuses(a) == statuses(answers[0]) for a in answers)
    assert all({s["baseUrl"] for s in a["online"]} == {server.base_url, stub.base_url} for a in answers)

    assert server.control(False).json() == {"success": True}
    for _ in range(30):
        assert server.base_url in {s["baseUrl"] for s in server.list().json()["offline"]}
    drained_at = time.monotonic()
    wait_until(lambda: stub.said_offline(server.base_url, drained_at) > 0, timeout=10, what="the peer to hear it")
    time.sleep(3 * INTERVAL)  # no worker's heartbeat brings it back
    assert stub.last_status(server.base_url) is False
    assert server.base_url in {s["baseUrl"] for s in server.list().json()["offline"]}

    server.control(True)
    for _ in range(30):
        assert server.base_url in {s["baseUrl"] for s in server.list().json()["online"]}
    wait_until(lambda: stub.last_status(server.base_url) is True, timeout=10, what="the peer to hear it is back")


def test_recycled_workers_say_nothing_and_the_server_says_goodbye_once(  # type: ignore[no-untyped-def]
    start_gunicorn, stub: StubPeer, tmp_path: Path
) -> None:
    server = start_gunicorn(workers=2, extra=["--max-requests", "5"])
    wait_until(lambda: stub.count() > 0, timeout=20, what="the first exchange")
    first_workers = server.workers()
    leaders = {server.leader()}
    for _ in range(60):  # every worker recycles several times, leaders included
        assert server.list().status_code == 200
        leaders.add(server.leader())
    wait_until(lambda: not (server.workers() & first_workers), timeout=20, what="every worker to be recycled")
    settled = time.monotonic()
    wait_until(lambda: stub.count(settled) > 0, timeout=10, what="gossip to go on after recycling")
    assert stub.said_offline(server.base_url) == 0

    assert server.stop(signal.SIGTERM) == 0
    assert stub.said_offline(server.base_url) == 1
    assert stored_status(tmp_path / "masterlist.json", server.base_url) is False


def test_werkzeug_reloader_runs_the_loop_only_in_the_serving_child(tmp_path: Path, stub: StubPeer) -> None:
    import subprocess
    import sys

    import requests

    from ..support.cluster import ROOT, free_port

    master_list = tmp_path / "masterlist.json"
    master_list.write_text(json.dumps({"online": [stub.entry()], "offline": []}))
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SHAZBOT_SECRET": GOSSIP_SECRET,
        "SHAZBOT_CONTROL_SECRET": CONTROL_SECRET,
        "SHAZBOT_BASE_URL": f"http://127.0.0.1:{port}/",
        "SHAZBOT_MASTER_LIST": master_list.as_uri(),
        "SHAZBOT_MASTER_LIST_UPDATE": master_list.as_uri(),
        "SHAZBOT_GOSSIP_INTERVAL": str(INTERVAL),
    }
    with open(tmp_path / "flask.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "examples/app.py", "run", "--debug", "--port", str(port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}/clustershazbot/list"
        wait_until(lambda: requests.get(url, headers={"Authorization": GOSSIP_SECRET}, timeout=2).ok, timeout=30,
                   what="flask run to serve")  # this first request starts the loop
        wait_until(lambda: stub.count() > 0, timeout=20, what="the first exchange")
        rate_is_one_loop(stub)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def metric(server: GunicornServer, name: str) -> float:
    import requests

    text = requests.get(f"{server.base_url}clustershazbot/metrics", headers={"Authorization": CONTROL_SECRET},
                        timeout=5).text
    return float(next(line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")))


def test_metrics_are_one_set_per_server_not_per_worker(start_gunicorn, stub: StubPeer) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("prometheus_client")
    import requests

    server = start_gunicorn(workers=3)
    wait_until(lambda: len(server.workers()) == 3, timeout=20, what="3 workers")
    before = metric(server, "shazbot_exchanges_received_total")
    posts = 30
    for _ in range(posts):  # spread over the workers by the kernel
        requests.post(f"{server.base_url}clustershazbot/gossip", headers={"Authorization": GOSSIP_SECRET},
                      json={"message": "gossip", "online": []}, timeout=5).raise_for_status()
    readings = [metric(server, "shazbot_exchanges_received_total") for _ in range(10)]
    assert readings == [before + posts] * 10  # every worker reports the server's total
    sent = metric(server, "shazbot_exchanges_sent_total")
    assert abs(sent - stub.count()) <= 3  # the leader's exchanges, seen from any worker
