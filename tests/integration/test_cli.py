"""``flask shazbot ...`` with Flask's CLI runner, against a real running server."""

from __future__ import annotations

import json
from collections.abc import Callable

from flask import Flask

from ..support.cluster import Server, free_port
from ..support.waiting import wait_until


def test_status_table_json_and_control(
    servers: Callable[..., Server], http_env: dict[str, str], make_app: Callable[..., Flask]
) -> None:
    a = servers("a", http_env)
    b = servers("b", http_env)
    wait_until(lambda: len(a.view()) == 2 and len(b.view()) == 2, timeout=30, what="a and b to meet")
    app = make_app(SHAZBOT_BASE_URL=a.base_url)
    runner = app.test_cli_runner()

    result = runner.invoke(args=["shazbot", "status"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["BASE", "URL", "STATUS", "MONITOR", "LAST", "UPDATE"]
    rows = {line.split()[0]: line.split() for line in lines[1:-1]}
    assert set(rows) == {a.base_url, b.base_url}
    assert "(this)" in rows[a.base_url] and rows[b.base_url][1] == "online"
    assert lines[-1] == "2 online, 0 offline"

    as_json = runner.invoke(args=["shazbot", "status", "--json"])
    assert as_json.exit_code == 0
    assert {s["baseUrl"] for s in json.loads(as_json.output)["online"]} == {a.base_url, b.base_url}

    drained = runner.invoke(args=["shazbot", "offline", "--url", b.base_url])
    assert drained.exit_code == 0, drained.output
    wait_until(lambda: a.view()[b.base_url] is False, timeout=15, what="a to see b drained")
    assert "offline" in runner.invoke(args=["shazbot", "status"]).output
    assert runner.invoke(args=["shazbot", "online", "--url", b.base_url]).exit_code == 0
    wait_until(lambda: a.view()[b.base_url] is True, timeout=15, what="a to see b back")

    assert not app.extensions["shazbot"].running  # the CLI never joins the cluster


def test_unreachable_server_is_one_clear_error(make_app: Callable[..., Flask]) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    app = make_app(SHAZBOT_BASE_URL=url)
    for command in (["status"], ["status", "--json"], ["offline"], ["online"]):
        result = app.test_cli_runner().invoke(args=["shazbot", *command])
        assert result.exit_code != 0
        assert f"cannot reach {url}" in result.output
        assert "Traceback" not in result.output


def test_refused_secret_is_one_clear_error(
    servers: Callable[..., Server], http_env: dict[str, str], make_app: Callable[..., Flask]
) -> None:
    a = servers("a", http_env)
    app = make_app(SHAZBOT_BASE_URL=a.base_url, SHAZBOT_CONTROL_SECRET="not-the-right-one")
    result = app.test_cli_runner().invoke(args=["shazbot", "status"])
    assert result.exit_code != 0 and "refused" in result.output and "not-the-right-one" not in result.output
