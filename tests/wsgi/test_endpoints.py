"""The three endpoints through Flask's WSGI stack: answers, auth, and bad input."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from flask_clustershazbot import Shazbot

from ..support.cluster import CONTROL_SECRET, GOSSIP_SECRET

GOSSIP = {"Authorization": f"Bearer {GOSSIP_SECRET}"}
CONTROL = {"Authorization": f"Bearer {CONTROL_SECRET}"}


def now_ms() -> int:
    return int(time.time() * 1000)


def gossip(online: list[dict[str, Any]], offline: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"message": "gossip", "online": online}
    if offline is not None:
        message["offline"] = offline
    return message


def server(url: str, last: int | None = None, monitor: bool = False) -> dict[str, Any]:
    return {"baseUrl": url, "monitor": monitor, "lastUpdate": now_ms() if last is None else last}


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(SHAZBOT_MAX_CONTENT_LENGTH=65536)


def test_gossip_answers_the_view_after_merging_sorted(app: Flask) -> None:
    client = app.test_client()
    message = gossip([server("http://Zed:80"), server("http://alpha/")], [server("http://mid/")])
    response = client.post("/clustershazbot/gossip", json=message, headers=GOSSIP)
    assert response.status_code == 200
    body = response.get_json()
    assert body["message"] == "gossip"
    assert [s["baseUrl"] for s in body["online"]] == ["http://127.0.0.1:5999/", "http://alpha/", "http://zed/"]
    assert [s["baseUrl"] for s in body["offline"]] == ["http://mid/"]
    listed = client.get("/clustershazbot/list", headers=GOSSIP).get_json()
    assert listed == {"online": body["online"], "offline": body["offline"]}


def test_unknown_keys_are_ignored(app: Flask) -> None:
    message = gossip([{**server("http://a/"), "zone": "eu"}])
    message["version"] = 2
    response = app.test_client().post("/clustershazbot/gossip", json=message, headers=GOSSIP)
    assert response.status_code == 200
    assert "zone" not in json.dumps(response.get_json())


def test_bare_secret_and_every_rotated_secret_are_accepted(make_app: Callable[..., Flask]) -> None:
    app = make_app(SHAZBOT_SECRET=f"new-secret,{GOSSIP_SECRET}")
    client = app.test_client()
    for header in ("new-secret", "Bearer new-secret", GOSSIP_SECRET, f"bearer {GOSSIP_SECRET}"):
        assert client.get("/clustershazbot/list", headers={"Authorization": header}).status_code == 200


def test_list_accepts_the_control_secret_too(app: Flask) -> None:
    assert app.test_client().get("/clustershazbot/list", headers=CONTROL).status_code == 200


def test_control_drains_and_returns(app: Flask) -> None:
    client = app.test_client()
    shazbot: Shazbot = app.extensions["shazbot"]
    drained = client.post("/clustershazbot/control", json={"message": "control", "online": False}, headers=CONTROL)
    assert drained.status_code == 200 and drained.get_json() == {"success": True}
    assert not shazbot.is_online
    assert [s["baseUrl"] for s in client.get("/clustershazbot/list", headers=CONTROL).get_json()["offline"]] == [
        "http://127.0.0.1:5999/"
    ]
    client.post("/clustershazbot/control", json={"message": "control", "online": True}, headers=CONTROL)
    assert shazbot.is_online


def test_wrong_method_is_a_json_405_only_under_our_prefix(app: Flask) -> None:
    @app.post("/elsewhere")
    def elsewhere() -> str:
        return "x"

    client = app.test_client()
    response = client.get("/clustershazbot/gossip", headers=GOSSIP)
    assert response.status_code == 405 and "error" in response.get_json()
    assert "POST" in response.headers["Allow"]
    other = client.get("/elsewhere")
    assert other.status_code == 405 and not other.is_json


BIG = json.dumps(gossip([server(f"http://s{i}.example/") for i in range(1200)]))

# (name, method, path, headers, body) -> expected status
CASES: list[tuple[str, str, str, dict[str, str], Any, int]] = [
    ("gossip without auth", "POST", "gossip", {}, gossip([server("http://x/")]), 401),
    ("gossip wrong secret", "POST", "gossip", {"Authorization": "Bearer nope"}, gossip([server("http://x/")]), 401),
    ("gossip with control secret", "POST", "gossip", CONTROL, gossip([server("http://x/")]), 401),
    ("gossip empty bearer", "POST", "gossip", {"Authorization": "Bearer "}, gossip([server("http://x/")]), 401),
    ("list without auth", "GET", "list", {}, None, 401),
    ("list wrong secret", "GET", "list", {"Authorization": "wrong"}, None, 401),
    ("control without auth", "POST", "control", {}, {"message": "control", "online": False}, 401),
    ("control with gossip secret", "POST", "control", GOSSIP, {"message": "control", "online": False}, 401),
    ("gossip not json", "POST", "gossip", GOSSIP, b"{not json", 400),
    ("gossip bad utf-8", "POST", "gossip", GOSSIP, b"\xff\xfe\x00", 400),
    ("gossip json array", "POST", "gossip", GOSSIP, [server("http://x/")], 400),
    ("gossip json string", "POST", "gossip", GOSSIP, "gossip", 400),
    ("gossip empty body", "POST", "gossip", GOSSIP, b"", 400),
    ("gossip missing message", "POST", "gossip", GOSSIP, {"online": [server("http://x/")]}, 400),
    ("gossip wrong message", "POST", "gossip", GOSSIP, {**gossip([server("http://x/")]), "message": "control"}, 400),
    ("gossip missing online", "POST", "gossip", GOSSIP, {"message": "gossip"}, 400),
    ("gossip online not list", "POST", "gossip", GOSSIP, {"message": "gossip", "online": {"a": 1}}, 400),
    ("gossip missing baseUrl", "POST", "gossip", GOSSIP, gossip([{"monitor": False, "lastUpdate": 1}]), 400),
    ("gossip missing lastUpdate", "POST", "gossip", GOSSIP, gossip([{"baseUrl": "http://x/", "monitor": False}]), 400),
    ("gossip monitor as string", "POST", "gossip", GOSSIP, gossip([{**server("http://x/"), "monitor": "true"}]), 400),
    ("gossip lastUpdate string", "POST", "gossip", GOSSIP, gossip([{**server("http://x/"), "lastUpdate": "1"}]), 400),
    ("gossip lastUpdate float", "POST", "gossip", GOSSIP, gossip([{**server("http://x/"), "lastUpdate": 1.5}]), 400),
    ("gossip lastUpdate bool", "POST", "gossip", GOSSIP, gossip([{**server("http://x/"), "lastUpdate": True}]), 400),
    ("gossip lastUpdate negative", "POST", "gossip", GOSSIP, gossip([server("http://x/", last=-1)]), 400),
    ("gossip lastUpdate huge", "POST", "gossip", GOSSIP, gossip([server("http://x/", last=10**30)]), 400),
    ("gossip ftp url", "POST", "gossip", GOSSIP, gossip([server("ftp://x/")]), 400),
    ("gossip relative url", "POST", "gossip", GOSSIP, gossip([server("/x")]), 400),
    ("gossip url with creds", "POST", "gossip", GOSSIP, gossip([server("http://u:p@x/")]), 400),
    ("gossip url not string", "POST", "gossip", GOSSIP, gossip([{**server("http://x/"), "baseUrl": 5}]), 400),
    ("gossip bad second entry", "POST", "gossip", GOSSIP, gossip([server("http://ok/"), server("nope")]), 400),
    ("gossip oversized", "POST", "gossip", GOSSIP, BIG.encode(), 413),
    ("control oversized", "POST", "control", CONTROL, b" " * 70000, 413),
    ("control not json", "POST", "control", CONTROL, b"online=false", 400),
    ("control missing online", "POST", "control", CONTROL, {"message": "control"}, 400),
    ("control online as string", "POST", "control", CONTROL, {"message": "control", "online": "false"}, 400),
    ("control online as 0", "POST", "control", CONTROL, {"message": "control", "online": 0}, 400),
    ("control wrong message", "POST", "control", CONTROL, {"message": "gossip", "online": False}, 400),
    ("gossip deep nesting", "POST", "gossip", GOSSIP, b"[" * 20000 + b"]" * 20000, 400),
    ("gossip huge integer text", "POST", "gossip", GOSSIP, b'{"message":"gossip","online":[],"x":' + b"9" * 5000 + b"}",
     400),
]


@pytest.mark.parametrize(("name", "method", "path", "headers", "body", "status"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_with_json_and_changes_nothing(
    app: Flask, name: str, method: str, path: str, headers: dict[str, str], body: Any, status: int
) -> None:
    client = app.test_client()
    shazbot: Shazbot = app.extensions["shazbot"]
    before = shazbot.servers()
    data = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else None
    response = client.open(
        f"/clustershazbot/{path}",
        method=method,
        data=data,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()
    assert isinstance(error["error"], str) and error["error"]
    assert "Traceback" not in response.get_data(as_text=True)
    assert shazbot.servers() == before
    assert shazbot.is_online


def test_invalid_field_details_name_the_field(app: Flask) -> None:
    response = app.test_client().post(
        "/clustershazbot/gossip", json=gossip([{**server("http://x/"), "lastUpdate": "soon"}]), headers=GOSSIP
    )
    assert response.status_code == 400
    assert "lastUpdate" in json.dumps(response.get_json()["details"])


def test_entries_beyond_skew_or_retention_are_dropped_not_errors(app: Flask) -> None:
    client = app.test_client()
    message = gossip([server("http://future/", last=now_ms() + 3_600_000), server("http://old/", last=1)])
    response = client.post("/clustershazbot/gossip", json=message, headers=GOSSIP)
    assert response.status_code == 200
    urls = {s["baseUrl"] for s in response.get_json()["online"]}
    assert urls == {"http://127.0.0.1:5999/"}


def test_seed_functions_work_without_routing(app: Flask) -> None:
    from flask_clustershazbot import InvalidMessage, Unauthorized, gossip_request, list_request

    with app.app_context():
        answer = gossip_request(f"Bearer {GOSSIP_SECRET}", json.dumps(gossip([server("http://seed/")])))
        assert "http://seed/" in {s["baseUrl"] for s in answer["online"]}
        assert "http://seed/" in {s["baseUrl"] for s in list_request(GOSSIP_SECRET)["online"]}
        with pytest.raises(Unauthorized):
            list_request(None)
        with pytest.raises(InvalidMessage):
            gossip_request(GOSSIP_SECRET, {"message": "gossip"})
