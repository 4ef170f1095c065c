"""The http(s) master-list backend against a real nginx WebDAV store with
basic auth, started on 127.0.0.1 with its own config in a temp dir."""

from __future__ import annotations

import base64
import json
import logging
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from flask_clustershazbot.deadline import deadline_session
from flask_clustershazbot.errors import MasterListError
from flask_clustershazbot.masterlist.http import HttpMasterList
from flask_clustershazbot.protocol.model import ServerEntry

from ..support.cluster import Server, base_env, free_port
from ..support.tools import require_tool
from ..support.waiting import wait_until

USER, PASSWORD = "cluster", "store-passw0rd"
CONFIG = """
daemon off;
user root;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {tmp}/www;
        location /store/ {{
            dav_methods PUT;
            create_full_put_path on;
            limit_except GET HEAD {{
                auth_basic "master list";
                auth_basic_user_file {tmp}/htpasswd;
            }}
        }}
    }}
}}
"""


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[str]:
    binary = require_tool("nginx", "nginx")
    port = free_port()
    (tmp_path / "www" / "store").mkdir(parents=True)
    (tmp_path / "htpasswd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    (tmp_path / "nginx.conf").write_text(CONFIG.format(tmp=tmp_path, port=port))
    process = subprocess.Popen([binary, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}/store/list.json"

    def up() -> bool:
        return requests.get(url, timeout=2).status_code == 404

    try:
        wait_until(up, timeout=20, what="nginx to serve")
        yield url
    finally:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def store(url: str, auth: str) -> HttpMasterList:
    return HttpMasterList(url, url, auth, session=deadline_session(), timeout=5, max_body=1 << 20)


def test_read_write_and_read_back(nginx: str) -> None:
    master_list = store(nginx, basic(USER, PASSWORD))
    assert master_list.read() == []
    now = int(time.time() * 1000)
    master_list.update(lambda current: [*current, ServerEntry("http://a/", True, now, True)])
    master_list.update(lambda current: [*current, ServerEntry("http://b/", False, now, False)])
    assert sorted(master_list.read()) == [ServerEntry("http://a/", True, now, True),
                                          ServerEntry("http://b/", False, now, False)]
    assert requests.put(nginx, data=b"{}", timeout=5).status_code == 401  # writes need the credential


def test_wrong_credential_is_one_clear_line_without_the_secret(
    nginx: str, caplog: pytest.LogCaptureFixture, make_app: Callable[..., object]
) -> None:
    caplog.set_level(logging.DEBUG)
    app = make_app(SHAZBOT_MASTER_LIST=nginx, SHAZBOT_MASTER_LIST_UPDATE=nginx,
                   SHAZBOT_MASTER_LIST_UPDATE_AUTH=basic(USER, "wrong-passw0rd"))
    shazbot = app.extensions["shazbot"]  # type: ignore[attr-defined]
    with pytest.raises(MasterListError) as caught:
        shazbot.node.announce()
    assert str(caught.value) == f"writing master list {nginx} failed: HTTP 401"
    encoded = basic(USER, "wrong-passw0rd").split()[1]
    assert "wrong-passw0rd" not in caplog.text + str(caught.value) and encoded not in caplog.text


def test_a_real_server_announces_into_nginx(nginx: str, servers: Callable[..., Server]) -> None:
    env = {**base_env(nginx, auth=basic(USER, PASSWORD)), "SHAZBOT_MASTER_ANNOUNCE_MINIMUM": "0.1",
           "SHAZBOT_MASTER_ANNOUNCE_INTERVAL": "0.2"}
    server = servers("nginx-backed", env)

    def stored() -> dict[str, bool]:
        response = requests.get(nginx, timeout=5)
        if response.status_code != 200:
            return {}
        data = json.loads(response.content)
        return {s["baseUrl"]: online for key, online in (("online", True), ("offline", False)) for s in data[key]}

    wait_until(lambda: stored() == {server.base_url: True}, timeout=20, what="the announce")
    server.stop(signal.SIGTERM)
    assert stored() == {server.base_url: False}
