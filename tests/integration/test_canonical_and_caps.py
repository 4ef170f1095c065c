"""Real servers (examples/app.py): one server has one key whatever its
spelling, and a large view still travels between servers on the defaults."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from ..support.cluster import GOSSIP_SECRET, Server, base_env, free_port
from ..support.waiting import wait_until


def entry(url: str, last_update: int | None = None) -> dict[str, Any]:
    return {"baseUrl": url, "monitor": False, "lastUpdate": last_update or int(time.time() * 1000)}


def gossip(server: Server, message: dict[str, Any]) -> requests.Response:
    return requests.post(server.url("gossip"), json={"message": "gossip", **message},
                         headers={"Authorization": f"Bearer {GOSSIP_SECRET}"}, timeout=30)


def test_a_server_listed_under_alias_spellings_shows_no_phantom(
    servers: Callable[..., Server], tmp_path: Path
) -> None:
    port = free_port()
    decoy = f"http://127.0.0.1:{free_port()}/"  # proves the master list was merged
    aliases = [f"http://[::1]:{port}/", f"http://[0000:0000::0001]:{port}", f"HTTP://[0:0:0:0:0:0:0:1]:{port}//"]
    masterlist = tmp_path / "masterlist.json"
    masterlist.write_text(json.dumps({"online": [entry(url) for url in [*aliases, decoy]]}))
    server = Server("aliased", base_env(f"file://{masterlist}"), tmp_path, port=port)
    # The server listens on 127.0.0.1 but calls itself by an uncompressed IPv6 spelling.
    server.env.update(SHAZBOT_BASE_URL=f"http://[0:0:0:0:0:0:0:1]:{port}", PORT=str(port))
    try:
        server.start()
        wait_until(lambda: decoy in server.view(), timeout=30, what="the master list to be merged")
        answer = gossip(server, {"online": [entry(url) for url in aliases]})
        assert answer.status_code == 200
        for _ in range(3):  # a few ticks, in which a phantom would gossip and be kept
            assert set(server.view()) == {f"http://[::1]:{port}/", decoy}
            time.sleep(0.3)
        assert {s["baseUrl"] for s in answer.json()["online"]} == {f"http://[::1]:{port}/", decoy}
    finally:
        server.stop()


def test_a_drain_reaches_a_peer_through_a_view_of_12000_servers(
    servers: Callable[..., Server], tmp_path: Path
) -> None:
    # The two meet through the master list, which is then never written again:
    # the drain can only travel by gossip.
    ports = free_port(), free_port()
    masterlist = tmp_path / "masterlist.json"
    masterlist.write_text(json.dumps({"online": [entry(f"http://127.0.0.1:{port}/") for port in ports]}))
    env = {**base_env(f"file://{masterlist}"), "SHAZBOT_GOSSIP_INTERVAL": "0.5", "SHAZBOT_FAILURE_TIMEOUT": "300",
           "SHAZBOT_REQUEST_TIMEOUT": "10", "SHAZBOT_MASTER_ANNOUNCE_MINIMUM": "3600",
           "SHAZBOT_UPDATE_MASTER_LIST_ON_SHUTDOWN": "false", "LOG_LEVEL": "WARNING"}
    # (a failure timeout far beyond the test: only the drain can mark a offline)
    a = servers("a", env, port=ports[0])
    b = servers("b", env, port=ports[1])
    wait_until(lambda: len(a.view()) == 2 and len(b.view()) == 2, timeout=30, what="a and b to meet")
    now = int(time.time() * 1000)
    # Offline servers that ended recently (kept for the retention); port 9 refuses at once.
    gone = [entry(f"http://127.0.0.1:9/gone-{i}/", now - i) for i in range(12_000)]
    for start in range(0, len(gone), 3_000):
        assert gossip(a, {"online": [], "offline": gone[start:start + 3_000]}).status_code == 200
    wait_until(lambda: len(b.view()) >= 12_002, timeout=90, interval=0.5, what="b to learn the large view")
    assert a.control(False).status_code == 200
    wait_until(lambda: b.view()[a.base_url] is False, timeout=30, interval=0.5, what="b to see a drained")
    assert a.control(True).status_code == 200
    wait_until(lambda: b.view()[a.base_url] is True, timeout=30, interval=0.5, what="b to see a back")
