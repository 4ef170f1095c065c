"""A rolling restart behind a real HAProxy drops no client request when
SHAZBOT_LAME_DUCK is twice the health-check window (docs/rolling-restarts.md).

Three gunicorn servers (2 workers each) behind HAProxy checking
``/clustershazbot/health`` every 500 ms (down after 2 failures); a client
sends requests steadily through HAProxy while each server in turn gets
SIGTERM, exits, starts again on the same port, and is seen UP by HAProxy.
Without a lame duck gunicorn closes its listener before the checks fail; the
requests that then fail are counted and printed as the baseline.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from ..support.chaos import report
from ..support.gunicorn_server import GunicornServer
from ..support.haproxy import HAPROXY, HAProxy
from ..support.masterlist_server import MasterListServer
from ..support.waiting import wait_until

pytestmark = pytest.mark.skipif(
    not HAPROXY.exists(), reason=f"needs HAProxy at {HAPROXY} (Debian package haproxy; .ci/run installs it)"
)

#: HAProxy's check window: 2 failed checks 500 ms apart.
CHECK_WINDOW = 2 * 0.5


@dataclass
class Client:
    """Sends ``GET /`` through HAProxy every 20 ms; keeps every failure."""

    url: str
    answered: int = 0
    slowest: float = 0.0  # the longest wait for an answer, in seconds
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Client:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(30)

    def _run(self) -> None:
        began = time.monotonic()
        with requests.Session() as session:
            while not self._stop.wait(0.02):  # the client's steady pace
                sent = time.monotonic()
                try:
                    response = session.get(self.url, timeout=10)
                    ok, detail = response.status_code == 200, f"HTTP {response.status_code}"
                except requests.RequestException as exc:
                    ok, detail = False, f"{type(exc).__name__} {str(exc)[-120:]}"
                self.slowest = max(self.slowest, time.monotonic() - sent)
                if ok:
                    self.answered += 1
                else:
                    took = time.monotonic() - sent
                    self.failures.append(f"{sent - began:.1f}s (failed after {took:.1f}s): {detail}")


def views(servers: list[GunicornServer]) -> list[dict[str, bool]]:
    seen = []
    for server in servers:
        body = server.list().json()
        seen.append({**{e["baseUrl"]: True for e in body["online"]}, **{e["baseUrl"]: False for e in body["offline"]}})
    return seen


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[GunicornServer]]:
    made: list[GunicornServer] = []
    yield made
    for server in made:
        server.kill_all()


@pytest.mark.parametrize("lame_duck", [2 * CHECK_WINDOW, 0.0], ids=["lame-duck", "baseline"])
def test_a_rolling_restart_behind_haproxy_drops_no_request_with_a_lame_duck(
    chaos_env: dict[str, str], master_store: MasterListServer, tmp_path: Path, cluster: list[GunicornServer],
    lame_duck: float,
) -> None:
    env = {**chaos_env, "SHAZBOT_LAME_DUCK": str(lame_duck)}
    for i in range(3):
        home = tmp_path / f"s{i}"
        home.mkdir()
        cluster.append(GunicornServer(env, home, workers=2))
    # The servers find each other through the master list (they announce only
    # every five minutes or more).
    now = int(time.time() * 1000)
    master_store.body = json.dumps(
        {"online": [{"baseUrl": s.base_url, "monitor": False, "lastUpdate": now} for s in cluster]}
    ).encode()
    for server in cluster:
        server.start()
    urls = {s.base_url for s in cluster}
    wait_until(lambda: all(set(v) >= urls and all(v[u] for u in urls) for v in views(cluster)), timeout=30,
               what="3 servers to see each other online")

    haproxy = HAProxy({f"s{i}": s.port for i, s in enumerate(cluster)}, tmp_path).start()
    try:
        for i in range(3):
            haproxy.wait_status(f"s{i}", "UP")
        began = time.monotonic()
        out_after: list[float] = []  # from each SIGTERM until HAProxy took the server out
        with Client(haproxy.url) as client:
            wait_until(lambda: client.answered >= 20, timeout=10, what="the client's first answers")
            for i, server in enumerate(cluster):
                assert server.process is not None
                stopped = time.monotonic()
                server.process.send_signal(signal.SIGTERM)
                haproxy.wait_status(f"s{i}", "DOWN")
                out_after.append(time.monotonic() - stopped)
                assert server.process.wait(30) == 0, server.log_path.read_text()[-3000:]
                server.start()  # the same port, the same state file
                haproxy.wait_status(f"s{i}", "UP")
            wait_until(lambda: all(v.get(u) for v in views(cluster) for u in urls), timeout=30,
                       what="every restarted server online everywhere")
        took = time.monotonic() - began
    finally:
        haproxy.stop()

    report(
        f"rolling restart of 3 gunicorn servers behind HAProxy, SHAZBOT_LAME_DUCK={lame_duck:g}",
        answered=client.answered, failed=len(client.failures), slowest_answer_s=f"{client.slowest:.1f}",
        took_s=f"{took:.1f}",
        out_of_rotation_after_s="/".join(f"{t:.1f}" for t in out_after),
    )
    for failure in client.failures:
        print(f"  failed request at {failure}")
    if lame_duck:
        assert client.failures == [], f"{len(client.failures)} failed requests: {client.failures}"
