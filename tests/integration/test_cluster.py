"""Real servers (examples/app.py in subprocesses) on 127.0.0.1 with a real
HTTP master-list store: the life cycle of docs/protocol.md section 6."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import requests

from ..support.cluster import GOSSIP_SECRET, Server, base_env, free_port
from ..support.masterlist_server import MasterListServer
from ..support.waiting import wait_until

StartServer = Callable[..., Server]


def everyone_sees(observers: list[Server], target: Server, online: bool) -> bool:
    return all(o.view().get(target.base_url) is online for o in observers)


def converged(group: list[Server]) -> bool:
    expected = {s.base_url: True for s in group}
    return all(s.view() == expected for s in group)


def start_cluster(servers: StartServer, env: dict[str, str], count: int = 3) -> list[Server]:
    group = [servers(f"s{i}", env) for i in range(count)]
    wait_until(lambda: converged(group), timeout=30, what="the cluster to converge")
    return group


def test_servers_converge_and_the_master_list_holds_them_all(
    servers: StartServer, http_env: dict[str, str], master_store: MasterListServer
) -> None:
    group = start_cluster(servers, http_env)
    wait_until(lambda: master_store.statuses() == {s.base_url: True for s in group}, timeout=20,
               what="every server in the master list")
    assert master_store.precondition_failures >= 0 and master_store.unauthorized == 0


def test_drained_server_is_offline_everywhere_keeps_serving_and_comes_back(
    servers: StartServer, http_env: dict[str, str]
) -> None:
    a, b, c = start_cluster(servers, http_env)
    assert b.control(False).json() == {"success": True}
    wait_until(lambda: everyone_sees([a, b, c], b, False), timeout=15, what="b drained everywhere")
    assert b.get_list().status_code == 200  # a drained server keeps answering
    time.sleep(1)  # several intervals: nobody brings it back by itself
    assert everyone_sees([a, b, c], b, False)
    assert b.control(True).status_code == 200
    wait_until(lambda: everyone_sees([a, b, c], b, True), timeout=15, what="b back everywhere")


def test_gracefully_stopped_server_is_offline_everywhere_and_in_the_master_list(
    servers: StartServer, http_env: dict[str, str], master_store: MasterListServer
) -> None:
    # A failure timeout far beyond the test: only the goodbye can take it offline.
    env = {**http_env, "SHAZBOT_FAILURE_TIMEOUT": "120"}
    a, b, c = start_cluster(servers, env)
    assert c.stop(signal.SIGTERM) == 0
    wait_until(lambda: everyone_sees([a, b], c, False), timeout=10, what="c offline everywhere")
    wait_until(lambda: master_store.statuses().get(c.base_url) is False, timeout=10,
               what="c offline in the master list")


def test_killed_server_is_declared_offline_and_rejoins_when_restarted(
    servers: StartServer, http_env: dict[str, str]
) -> None:
    a, b, c = start_cluster(servers, http_env)
    c.stop(signal.SIGKILL)
    killed_at = time.monotonic()
    wait_until(lambda: everyone_sees([a, b], c, False), timeout=30, what="c declared offline")
    assert time.monotonic() - killed_at >= 2.0  # by the failure detector, after its timeout (3 s)
    restarted = servers("s2-again", http_env, port=c.port)
    wait_until(lambda: converged([a, b, restarted]), timeout=30, what="c back online everywhere")


def test_false_offline_claim_about_a_live_server_is_refuted(servers: StartServer, http_env: dict[str, str]) -> None:
    a, b, c = start_cluster(servers, http_env)
    current = {s["baseUrl"]: s for s in a.raw_view()["online"]}[c.base_url]
    forged_version = current["lastUpdate"] + 1
    forged = {"message": "gossip", "online": [], "offline": [{**current, "lastUpdate": forged_version}]}
    answer = requests.post(a.url("gossip"), json=forged, headers={"Authorization": GOSSIP_SECRET}, timeout=5)
    assert c.base_url in {s["baseUrl"] for s in answer.json()["offline"]}  # a believed it...

    def refuted() -> bool:
        for server in (a, b, c):
            online = {s["baseUrl"]: s for s in server.raw_view()["online"]}
            if c.base_url not in online or online[c.base_url]["lastUpdate"] <= forged_version:
                return False
        return True

    wait_until(refuted, timeout=15, what="c to refute the claim everywhere")  # ...until c refuted it


def test_server_starts_without_the_master_list_and_joins_when_it_returns(
    servers: StartServer, tmp_path: object
) -> None:
    port = free_port()
    store = MasterListServer(port=port).start()
    env = base_env(store.url)
    a, b = start_cluster(servers, env, count=2)
    wait_until(lambda: len(store.statuses()) == 2, timeout=20, what="a and b in the master list")
    body = store.body
    store.stop()  # the store goes down

    started = time.monotonic()
    c = servers("late", env)
    assert time.monotonic() - started < 15  # starting does not wait for the store
    assert c.view() == {c.base_url: True}  # alone, but serving
    time.sleep(1)
    assert c.view() == {c.base_url: True}

    revived = MasterListServer(port=port)
    revived.body = body
    revived.start()
    try:
        wait_until(lambda: converged([a, b, c]), timeout=30, what="c to join once the store is back")
    finally:
        revived.stop()
