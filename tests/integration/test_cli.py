"""``flask shazbot ...`` with Flask's CLI runner, against a real running server."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
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


class ListServer:
    """Answers GET <prefix>/list with a fixed body, as a server from another
    version (or a broken one) might."""

    def __init__(self, body: bytes) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


NASTY = ["http://evil.example/\x9b2J/", "http://evil.example/\x9d0;pwned\x9c/", "http://evil.example/\u202egnp/",
         "http://evil\u200b.example/"]


def test_a_view_with_non_printable_urls_never_reaches_the_terminal_raw(make_app: Callable[..., Flask]) -> None:
    now = int(__import__("time").time() * 1000)
    body = json.dumps({"online": [{"baseUrl": url, "monitor": False, "lastUpdate": now} for url in NASTY]}).encode()
    fake = ListServer(body)
    try:
        app = make_app(SHAZBOT_BASE_URL=fake.base_url)
        for command in (["status"], ["status", "--json"]):
            result = app.test_cli_runner().invoke(args=["shazbot", *command])
            assert result.exit_code != 0 and "did not answer with a server list" in result.output
            assert all(line.isprintable() for line in result.output.splitlines())
            assert "Traceback" not in result.output
    finally:
        fake.stop()


def test_every_command_prints_one_line_for_an_unexpected_answer(make_app: Callable[..., Flask]) -> None:
    fake = ListServer(b"\xff\xfe not json at all")
    try:
        app = make_app(SHAZBOT_BASE_URL=fake.base_url)
        result = app.test_cli_runner().invoke(args=["shazbot", "status"])
        assert result.exit_code != 0 and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1
    finally:
        fake.stop()


def test_the_masterlist_command_shows_the_stored_list(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    now = int(__import__("time").time() * 1000)
    (tmp_path / "masterlist.json").write_text(json.dumps(
        {"online": [{"baseUrl": "http://[0:0:0:0:0:0:0:1]:5001", "monitor": False, "lastUpdate": now}],
         "offline": [{"baseUrl": "http://BÜCHER.example/", "monitor": True, "lastUpdate": now}]}))
    result = make_app().test_cli_runner().invoke(args=["shazbot", "masterlist"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.output.splitlines()[1:-1]}
    assert set(rows) == {"http://[::1]:5001/", "http://xn--bcher-kva.example/"}
    assert result.output.splitlines()[-1] == "1 online, 1 offline"


def test_a_stored_list_with_a_control_character_is_one_clear_error(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    now = int(__import__("time").time() * 1000)
    (tmp_path / "masterlist.json").write_text(json.dumps(
        {"online": [{"baseUrl": f"http://evil.example/{char}2J", "monitor": False, "lastUpdate": now}
                    for char in ("\x9b", "\u202e")]}))
    result = make_app().test_cli_runner().invoke(args=["shazbot", "masterlist"])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert all(line.isprintable() for line in result.output.splitlines())


@pytest.mark.parametrize("key", ["SHAZBOT_CONTROL_SECRET", "SHAZBOT_SECRET"])
def test_a_non_ascii_secret_is_one_clear_line_from_the_flask_command(key: str, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from ..support.cluster import ROOT, base_env

    env = {**os.environ, **base_env(f"file://{tmp_path}/list.json"), "PYTHONPATH": str(ROOT),
           "SHAZBOT_BASE_URL": f"http://127.0.0.1:{free_port()}/", key: "пароль"}
    flask = str(Path(sys.executable).parent / "flask")
    result = subprocess.run([flask, "--app", str(ROOT / "examples" / "app.py"), "shazbot", "status"],
                            env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    assert key in result.stderr and "ASCII" in result.stderr and "пароль" not in result.stderr
