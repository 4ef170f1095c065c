"""Server metadata (issue 13, docs/protocol.md section 8.5) through Flask's
WSGI stack: configured and changed at run time, on the wire in ``/list`` and
gossip, refused entry by entry when malformed, never erased by a relay that
drops the key, filtered by ``online()``, shown by ``status.json``, the status
page and ``flask shazbot masterlist``."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from flask_clustershazbot import ConfigError, Shazbot

from ..support.cluster import CONTROL_SECRET, GOSSIP_SECRET

GOSSIP = {"Authorization": f"Bearer {GOSSIP_SECRET}"}
SELF = "http://127.0.0.1:5999/"


def now_ms() -> int:
    return int(time.time() * 1000)


def server(url: str, last: int, meta: Any = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"baseUrl": url, "monitor": False, "lastUpdate": last}
    if meta is not None:
        entry["meta"] = meta
    return entry


def gossip(client: Any, *online: dict[str, Any]) -> Any:
    response = client.post("/clustershazbot/gossip", json={"message": "gossip", "online": list(online)},
                           headers=GOSSIP)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


def listed(client: Any) -> dict[str, dict[str, Any]]:
    """``/list`` as base URL -> entry as on the wire."""
    body = client.get("/clustershazbot/list", headers=GOSSIP).get_json()
    return {s["baseUrl"]: s for s in body["online"] + body["offline"]}


def shazbot_of(app: Flask) -> Shazbot:
    extension: Shazbot = app.extensions["shazbot"]
    return extension


# -- own metadata --------------------------------------------------------------


def test_configured_metadata_is_in_list_and_an_entry_without_any_is_todays_bytes(
    make_app: Callable[..., Flask],
) -> None:
    tagged = make_app(SHAZBOT_METADATA='{"zone": "a", "role": "web"}').test_client()
    assert listed(tagged)[SELF]["meta"] == {"role": "web", "zone": "a"}
    raw = tagged.get("/clustershazbot/list", headers=GOSSIP).get_data(as_text=True)
    assert ',"meta":{"role":"web","zone":"a"}}' in raw  # canonical: sorted keys, no spaces

    plain = make_app().test_client()
    raw = plain.get("/clustershazbot/list", headers=GOSSIP).get_data(as_text=True)
    last = listed(plain)[SELF]["lastUpdate"]
    # Exactly the bytes of a server without metadata before the key existed.
    assert raw == f'{{"online":[{{"baseUrl":"{SELF}","monitor":false,"lastUpdate":{last}}}],"offline":[]}}'


def test_set_metadata_publishes_a_new_version_and_bad_metadata_changes_nothing(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(SHAZBOT_METADATA='{"role": "web"}')
    client, shazbot = app.test_client(), shazbot_of(app)
    assert shazbot.metadata == {"role": "web"}
    before = listed(client)[SELF]["lastUpdate"]
    shazbot.set_metadata({"role": "worker", "zone": "b"})
    after = listed(client)[SELF]
    assert after["meta"] == {"role": "worker", "zone": "b"} and after["lastUpdate"] > before
    assert shazbot.metadata == {"role": "worker", "zone": "b"}
    for bad in ({"Role": "x"}, {"role": 1}, {"role": "a\nb"}, {"big": "x" * 2000}):
        with pytest.raises(ValueError):
            shazbot.set_metadata(bad)  # type: ignore[arg-type]  # the int is the point
    assert listed(client)[SELF] == after
    shazbot.set_metadata({})
    assert "meta" not in listed(client)[SELF] and shazbot.metadata == {}


# -- incoming metadata ---------------------------------------------------------

MALFORMED: dict[str, Any] = {
    "not an object": ["role", "web"],
    "a string": "role=web",
    "a bad key": {"Role": "web"},
    "a long key": {"k" * 65: "v"},
    "a number": {"role": 1},
    "null value": {"role": None},
    "a control character": {"role": "web\x1b[2J"},
    "a bidi override": {"role": "\u202eweb"},
    "oversized": {"blob": "x" * 1100},
}


@pytest.mark.parametrize("meta", MALFORMED.values(), ids=list(MALFORMED))
def test_malformed_incoming_metadata_refuses_that_entry_only_and_is_counted(
    make_app: Callable[..., Flask], meta: Any
) -> None:
    client = make_app().test_client()
    last = now_ms()
    response = gossip(client, server("http://bad/", last, meta), server("http://good/", last, {"role": "db"}))
    answered = {s["baseUrl"] for s in response.get_json()["online"]}
    assert answered == {SELF, "http://good/"}
    assert listed(client)["http://good/"]["meta"] == {"role": "db"}
    pytest.importorskip("prometheus_client")  # the `metrics` extra
    metrics = client.get("/clustershazbot/metrics", headers=GOSSIP).get_data(as_text=True)
    assert 'shazbot_entries_refused_total{reason="metadata"} 1.0' in metrics


def test_a_smaller_limit_refuses_what_a_larger_one_relays(make_app: Callable[..., Flask]) -> None:
    client = make_app(SHAZBOT_MAX_METADATA_BYTES=64).test_client()
    last = now_ms()
    small, large = {"role": "web"}, {"note": "n" * 80}
    gossip(client, server("http://small/", last, small), server("http://large/", last, large))
    view = listed(client)
    assert view["http://small/"]["meta"] == small and "http://large/" not in view


def test_a_copy_without_meta_never_erases_metadata_at_the_same_version(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    last = now_ms()
    gossip(client, server("http://a/", last, {"role": "web"}))
    gossip(client, server("http://a/", last))  # relayed by a peer that drops unknown keys
    assert listed(client)["http://a/"]["meta"] == {"role": "web"}
    # In the other order too: any metadata is above none.
    gossip(client, server("http://b/", last))
    gossip(client, server("http://b/", last, {"role": "db"}))
    assert listed(client)["http://b/"]["meta"] == {"role": "db"}
    # A newer version without metadata is the server's own word: it has none now.
    gossip(client, server("http://a/", last + 1))
    assert "meta" not in listed(client)["http://a/"]


def test_a_new_version_with_other_metadata_replaces_it(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    last = now_ms()
    gossip(client, server("http://a/", last, {"role": "web", "zone": "a"}))
    gossip(client, server("http://a/", last + 5, {"role": "worker"}))
    assert listed(client)["http://a/"]["meta"] == {"role": "worker"}


def test_online_filters_by_metadata(make_app: Callable[..., Flask]) -> None:
    app = make_app(SHAZBOT_METADATA='{"role": "web", "zone": "a"}')
    client, shazbot = app.test_client(), shazbot_of(app)
    last = now_ms()
    gossip(
        client,
        server("http://w1/", last, {"role": "worker", "zone": "a"}),
        server("http://w2/", last, {"role": "worker", "zone": "b"}),
        server("http://plain/", last),
    )
    assert [e.base_url for e in shazbot.online(role="worker")] == ["http://w1/", "http://w2/"]
    assert [e.base_url for e in shazbot.online(role="worker", zone="a")] == ["http://w1/"]
    assert [e.base_url for e in shazbot.online(zone="a")] == [SELF, "http://w1/"]
    assert shazbot.online(role="nobody") == []
    assert len(shazbot.online()) == 4
    w1 = next(e for e in shazbot.servers() if e.base_url == "http://w1/")
    assert w1.metadata == {"role": "worker", "zone": "a"}


# -- configuration -------------------------------------------------------------

SECRET_LOOKING = "s3cr3t-value-never-shown"


@pytest.mark.parametrize(
    ("settings", "why"),
    [
        ({"SHAZBOT_METADATA": '{"role": "' + SECRET_LOOKING}, "JSON object"),
        ({"SHAZBOT_METADATA": json.dumps(["role", SECRET_LOOKING])}, "JSON object"),
        ({"SHAZBOT_METADATA": json.dumps({"Bad Key": SECRET_LOOKING})}, "'Bad Key'"),
        ({"SHAZBOT_METADATA": json.dumps({"role": 7})}, "'role'"),
        ({"SHAZBOT_METADATA": json.dumps({"role": SECRET_LOOKING + "\x07"})}, "printable"),
        ({"SHAZBOT_METADATA": json.dumps({"blob": SECRET_LOOKING * 60})}, "1024"),
        ({"SHAZBOT_METADATA": json.dumps({"role": SECRET_LOOKING}), "SHAZBOT_MAX_METADATA_BYTES": 16}, "(16)"),
    ],
    ids=["bad json", "not an object", "bad key", "not a string", "unprintable", "too big", "over a smaller limit"],
)
def test_bad_metadata_setting_is_a_config_error_naming_the_key_without_the_value(
    make_app: Callable[..., Flask], settings: dict[str, Any], why: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        make_app(**settings)
    message = str(raised.value)
    assert "SHAZBOT_METADATA" in message and why in message
    assert SECRET_LOOKING not in message


# -- shown to operators --------------------------------------------------------


def test_status_json_carries_metadata(make_app: Callable[..., Flask]) -> None:
    client = make_app(SHAZBOT_METADATA='{"role": "web"}').test_client()
    gossip(client, server("http://tagged/", now_ms(), {"note": "<b>hi</b>"}), server("http://plain/", now_ms()))
    status = client.get("/clustershazbot/status.json", auth=("ops", CONTROL_SECRET)).get_json()
    assert status["self"]["meta"] == {"role": "web"}
    meta = {s["baseUrl"]: s["meta"] for s in status["servers"]}
    assert meta == {SELF: {"role": "web"}, "http://tagged/": {"note": "<b>hi</b>"}, "http://plain/": {}}


def test_status_page_has_a_metadata_column_filled_as_text(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    page = client.get("/clustershazbot/", auth=("ops", CONTROL_SECRET)).get_data(as_text=True)
    assert re.findall(r"<th>([^<]*)</th>", page)[-1] == "Metadata"
    script = client.get("/clustershazbot/static/shazbot-status.js").get_data(as_text=True)
    assert "server.meta" in script and "innerHTML" not in script  # peer text goes in as text


def test_cli_masterlist_shows_a_meta_column_cut_and_escaped(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    now = now_ms()
    (tmp_path / "masterlist.json").write_text(json.dumps({
        "online": [
            server("http://a/", now, {"role": "web", "zone": "eu-1"}),
            server("http://b/", now, {"note": "n" * 200}),
            server("http://c/", now),
        ],
        "offline": [],
    }))
    result = make_app().test_cli_runner().invoke(args=["shazbot", "masterlist"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["BASE", "URL", "STATUS", "MONITOR", "LAST", "UPDATE", "META"]
    rows = {line.split()[0]: line for line in lines[1:4]}
    assert rows["http://a/"].endswith("role=web,zone=eu-1")
    assert rows["http://b/"].split()[-1] == "note=" + "n" * 40 + "..."
    assert rows["http://c/"].split()[-1] == "ago"


def test_cli_table_without_any_metadata_has_no_meta_column(make_app: Callable[..., Flask], tmp_path: Path) -> None:
    (tmp_path / "masterlist.json").write_text(json.dumps({"online": [server("http://a/", now_ms())]}))
    result = make_app().test_cli_runner().invoke(args=["shazbot", "masterlist"])
    assert result.exit_code == 0 and "META" not in result.output


def test_openapi_describes_meta_on_gossip_servers(make_app: Callable[..., Flask]) -> None:
    document = make_app().test_client().get("/clustershazbot/openapi.json").get_json()
    server_schema = document["components"]["schemas"]["GossipServer"]
    accepted = server_schema["properties"]["meta"]
    assert "meta" not in server_schema["required"]
    # Any value is accepted (a malformed one refuses its entry alone); the
    # valid form is described alongside.
    assert "type" not in accepted and "refused on its own" in accepted["description"]
    meta = accepted["x-valid-form"]
    assert meta["type"] == "object" and meta["additionalProperties"] == {"type": "string"}
    key = re.compile(meta["x-propertyNames"]["pattern"])
    assert key.match("zone.a-1_b") and not key.match("Zone") and not key.match("k" * 65)
