"""A wall clock stepped far ahead and then corrected, on a real server under
libfaketime: once the clock is right again the server is online in every view
within a few intervals, and stays so (docs/protocol.md section 4, "Clock
steps")."""

from __future__ import annotations

import glob
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ..support.chaos import ProxiedServer, report
from ..support.masterlist_server import MasterListServer
from ..support.tools import require_tool
from ..support.waiting import wait_until

Start = Callable[..., ProxiedServer]

SKEW = 5.0  # SHAZBOT_MAX_CLOCK_SKEW for this cluster
STEP = 20 * SKEW


def faketime_library() -> str:
    require_tool("faketime", "faketime")
    found = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1"))
    if not found:
        pytest.skip("libfaketimeMT.so.1 not found")
    return found[0]


def online_everywhere(group: list[ProxiedServer], target: ProxiedServer) -> bool:
    return all(server.view().get(target.base_url) is True for server in group)


def test_a_forward_clock_step_then_correction_leaves_the_server_online_everywhere(
    proxied: Start, chaos_env: dict[str, str], master_store: MasterListServer, tmp_path: Path
) -> None:
    library = faketime_library()
    env = {**chaos_env, "SHAZBOT_MAX_CLOCK_SKEW": str(SKEW)}
    clock = tmp_path / "faketime"
    clock.write_text("+0\n")
    stepped_env = {
        **env,
        "LD_PRELOAD": library,
        "FAKETIME_TIMESTAMP_FILE": str(clock),
        "FAKETIME_NO_CACHE": "1",  # read the file on every call: steps take effect at once
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",  # a real step moves the wall clock only
    }
    group = [proxied("a", env, wait=False), proxied("b", env, wait=False),
             proxied("stepped", stepped_env, wait=False)]
    now = int(time.time() * 1000)
    master_store.body = json.dumps({"online": [{"baseUrl": s.base_url, "monitor": False, "lastUpdate": now}
                                               for s in group]}).encode()
    for server in group:
        server.start()
    stepped = group[2]
    wait_until(lambda: all(online_everywhere(group, s) for s in group), timeout=40, what="the cluster to form")

    clock.write_text(f"+{STEP:.0f}\n")  # the wall clock jumps 20 x the skew limit ahead ...
    # ... long enough for its peers to refuse it and time it out
    wait_until(lambda: all(s.view().get(stepped.base_url) is False for s in group[:2]), timeout=30,
               what="the peers to refuse the stepped server")
    clock.write_text("+0\n")  # ... and is corrected
    corrected = time.monotonic()
    wait_until(lambda: online_everywhere(group, stepped), timeout=30, what="the stepped server online everywhere")
    recovered = time.monotonic() - corrected
    # ... and it stays so for three failure timeouts (2 s each): no peer
    # declares it offline again (a flap can be shorter than a poll, but never
    # escapes the log)
    seen = {peer.name: len(peer.log_path.read_text()) for peer in group[:2]}
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        assert online_everywhere(group, stepped), "the stepped server was lost again"
        assert all(online_everywhere(group, s) for s in group[:2])
        time.sleep(0.2)
    for peer in group[:2]:
        later = peer.log_path.read_text()[seen[peer.name]:]
        lost = [line for line in later.splitlines() if stepped.base_url in line and "offline" in line]
        assert not lost, f"{peer.name} lost the stepped server again: {lost}"
    report("clock step", step=f"+{STEP:.0f}s (20 x SHAZBOT_MAX_CLOCK_SKEW={SKEW:.0f}s)", interval="0.2s",
           online_everywhere_after_correction=f"{recovered:.1f}s")
    assert recovered < 5  # a few intervals, generous for a loaded machine
