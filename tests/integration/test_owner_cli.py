"""``flask shazbot owner KEY`` and GET {prefix}/owner/<key> against real
servers with SHAZBOT_METADATA (docs/protocol.md section 8.6)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from urllib.parse import quote

import requests
from flask import Flask

from ..support.cluster import CONTROL_SECRET, GOSSIP_SECRET, Server, free_port
from ..support.waiting import wait_until

KEYS = [f"job-{n}" for n in range(30)] + ["ключ/東京 🙂", "a/b"]


def spec_owner(key: str, urls: list[str]) -> str | None:
    """Section 8.6 in a few lines, independent of the package."""
    def w(url: str) -> int:
        return int.from_bytes(hashlib.sha256(key.encode() + b"\x00" + url.encode()).digest()[:8], "big")

    # Largest weight; on an equal weight the smallest URL by UTF-8 bytes.
    return min(urls, key=lambda url: (-w(url), url.encode()), default=None)


def asked(server: Server, key: str, secret: str = GOSSIP_SECRET) -> object:
    response = requests.get(
        server.url("owner/" + quote(key, safe="/")), headers={"Authorization": f"Bearer {secret}"}, timeout=5
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["key"] == key
    return body["owner"]


def test_owner_command_and_endpoint_agree_on_every_server(
    servers: Callable[..., Server], http_env: dict[str, str], make_app: Callable[..., Flask]
) -> None:
    a = servers("a", {**http_env, "SHAZBOT_METADATA": '{"role": "worker"}'})
    b = servers("b", {**http_env, "SHAZBOT_METADATA": '{"role": "web"}'})

    def met() -> bool:
        return all(
            {e["baseUrl"]: e.get("meta") for e in s.raw_view()["online"]}
            == {a.base_url: {"role": "worker"}, b.base_url: {"role": "web"}}
            for s in (a, b)
        )

    wait_until(met, timeout=30, what="a and b to meet, with their metadata")
    app = make_app(SHAZBOT_BASE_URL=a.base_url)
    runner = app.test_cli_runner()
    owners = set()
    for key in KEYS:
        expected = spec_owner(key, [a.base_url, b.base_url])
        owners.add(expected)
        assert asked(a, key) == asked(b, key, CONTROL_SECRET) == expected
        result = runner.invoke(args=["shazbot", "owner", key])
        assert result.exit_code == 0, result.output
        assert result.output == f"{expected}\n"
        as_json = runner.invoke(args=["shazbot", "owner", key, "--json", "--url", b.base_url])
        assert json.loads(as_json.output) == {"key": key, "owner": expected}
    assert owners == {a.base_url, b.base_url}

    workers = runner.invoke(args=["shazbot", "owner", "job-1", "--filter", "role=worker"])
    assert workers.exit_code == 0 and workers.output == f"{a.base_url}\n"
    nobody = runner.invoke(args=["shazbot", "owner", "job-1", "--filter", "role=db"])
    assert nobody.exit_code == 1 and "no online server matching the filters owns it" in nobody.output
    nobody_json = runner.invoke(args=["shazbot", "owner", "job-1", "--filter", "role=db", "--json"])
    assert nobody_json.exit_code == 0 and json.loads(nobody_json.output) == {"key": "job-1", "owner": None}
    for bad in (["--filter", "Role=worker"], ["--filter", "role"], ["--filter", "role=a", "--filter", "role=b"]):
        refused = runner.invoke(args=["shazbot", "owner", "job-1", *bad])
        assert refused.exit_code == 2 and "--filter" in refused.output and "Traceback" not in refused.output
    for key in ("", "a\x1b[2Jb", "k" * 1025):
        refused = runner.invoke(args=["shazbot", "owner", key])
        assert refused.exit_code == 2 and "KEY" in refused.output and "\x1b" not in refused.output

    # Drained, a owns nothing, on both servers and from the CLI; b's keys stay.
    assert runner.invoke(args=["shazbot", "offline"]).exit_code == 0
    wait_until(lambda: b.view()[a.base_url] is False, timeout=15, what="b to see a drained")
    for key in KEYS:
        assert asked(a, key) == asked(b, key) == b.base_url
        assert runner.invoke(args=["shazbot", "owner", key]).output == f"{b.base_url}\n"
    assert not app.extensions["shazbot"].running  # the CLI never joins the cluster


def test_owner_command_with_an_unreachable_server_is_one_clear_error(make_app: Callable[..., Flask]) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    result = make_app(SHAZBOT_BASE_URL=url).test_cli_runner().invoke(args=["shazbot", "owner", "k"])
    assert result.exit_code != 0 and f"cannot reach {url}" in result.output and "Traceback" not in result.output
