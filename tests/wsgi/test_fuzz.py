"""Property-based fuzzing of the three endpoints through the WSGI stack:
never a 500, never a traceback, and a refused request changes nothing."""

from __future__ import annotations

import json
import string
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flask_clustershazbot import Shazbot

from ..support.cluster import CONTROL_SECRET, GOSSIP_SECRET
from ..support.config import config_dict

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
ENDPOINTS = [("POST", "gossip", GOSSIP_SECRET), ("POST", "control", CONTROL_SECRET), ("GET", "list", GOSSIP_SECRET)]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
any_character = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=["Cs"])
weird_text = st.text(alphabet=any_character, max_size=40)
urls = st.one_of(
    weird_text,
    st.builds(lambda h, p: f"http://{h}/{p}", st.text(string.ascii_letters + "-.", min_size=1, max_size=12),
              weird_text),
    st.sampled_from(["http://a/", "HTTP://A:80", "https://a:443/", "http://[::1]:5/", "http://a/\n", "http://a b/"]),
)
servers = st.fixed_dictionaries(
    {
        "baseUrl": urls,
        "monitor": st.one_of(st.booleans(), json_values),
        "lastUpdate": st.one_of(st.integers(min_value=-(2**70), max_value=2**70), json_values),
    }
)
messages = st.fixed_dictionaries(
    {"message": st.sampled_from(["gossip", "control", "", "GOSSIP"]), "online": st.lists(servers, max_size=6)},
    optional={"offline": st.lists(servers, max_size=4), "extra": json_values},
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    app = Flask("fuzzed")
    app.config.update(config_dict(tmp_path_factory.mktemp("fuzz"), SHAZBOT_MAX_CONTENT_LENGTH=65536))
    Shazbot(app)
    yield app


def check(app: Flask, method: str, path: str, secret: str, body: bytes) -> None:
    shazbot: Shazbot = app.extensions["shazbot"]
    before = (shazbot.servers(), shazbot.is_online)
    response = app.test_client().open(
        f"/clustershazbot/{path}", method=method, data=body,
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
    )
    assert response.status_code in (200, 400, 401, 413), response.status_code
    text = response.get_data(as_text=True)
    assert "Traceback" not in text
    payload = json.loads(text)
    if response.status_code != 200:
        assert isinstance(payload["error"], str)
        assert (shazbot.servers(), shazbot.is_online) == before
    shazbot.set_online(True)


@FUZZ
@given(st.binary(max_size=300), st.sampled_from(ENDPOINTS))
def test_arbitrary_bytes(app: Flask, body: bytes, endpoint: tuple[str, str, str]) -> None:
    check(app, *endpoint, body)


@FUZZ
@given(json_values, st.sampled_from(ENDPOINTS))
def test_arbitrary_json(app: Flask, value: Any, endpoint: tuple[str, str, str]) -> None:
    check(app, *endpoint, json.dumps(value).encode())


@FUZZ
@given(messages)
def test_message_shaped_json(app: Flask, message: dict[str, Any]) -> None:
    check(app, "POST", "gossip", GOSSIP_SECRET, json.dumps(message).encode())


@FUZZ
@given(st.integers(min_value=1, max_value=5000), st.sampled_from(["[", "{\"a\":"]))
def test_deep_nesting(app: Flask, depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    check(app, "POST", "gossip", GOSSIP_SECRET, (opener * depth + "1" + closer * depth).encode())


@FUZZ
@given(st.lists(st.sampled_from(['"message"', '"online"', '"offline"']), min_size=2, max_size=6))
def test_duplicate_keys(app: Flask, keys: list[str]) -> None:
    parts = ",".join(f'{k}:{json.dumps("gossip") if k == chr(34) + "message" + chr(34) else "[]"}' for k in keys)
    check(app, "POST", "gossip", GOSSIP_SECRET, ("{" + parts + "}").encode())


def test_duplicated_servers_in_one_message_merge_as_one(app: Flask) -> None:
    entry: dict[str, Any] = {
        "baseUrl": "http://dup.example/", "monitor": False, "lastUpdate": int(time.time() * 1000) - 1000}
    newer = {**entry, "lastUpdate": entry["lastUpdate"] + 5}
    message = {"message": "gossip", "online": [entry, newer, entry], "offline": [entry]}
    response = app.test_client().post("/clustershazbot/gossip", json=message,
                                      headers={"Authorization": GOSSIP_SECRET})
    body = response.get_json()
    dup = [s for s in body["online"] + body["offline"] if s["baseUrl"] == "http://dup.example/"]
    assert dup == [newer]  # one entry: the newest of the four


def test_make_app_fixture_still_works(make_app: Callable[..., Flask]) -> None:
    assert make_app().extensions["shazbot"].is_online
