"""The fast paths of the wire format agree with marshmallow and json exactly."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError, fields

from flask_clustershazbot.protocol.model import ServerEntry, entries_to_wire
from flask_clustershazbot.schemas import MAX_SAFE_INTEGER, GossipServerSchema, ServerEntries
from flask_clustershazbot.wire import encode_gossip, encode_server_list, gossip_message


class PlainSchema(Schema):
    """The straightforward schema the fast field must match."""

    items = fields.Nested(GossipServerSchema, many=True, required=True)


class FastSchema(Schema):
    items = ServerEntries(online=True, required=True)


urls = st.one_of(
    st.sampled_from(["http://a/", "HTTPS://B:443", "http://c:8080/x//", "ftp://d/", "http://u:p@e/", "", "http://f/?q"]),
    st.text(max_size=20),
    st.integers(),
    st.none(),
)
bools = st.one_of(st.booleans(), st.integers(0, 1), st.sampled_from(["true", "false"]), st.none())
times = st.one_of(
    st.integers(-5, MAX_SAFE_INTEGER + 5),
    st.sampled_from([0, MAX_SAFE_INTEGER, MAX_SAFE_INTEGER + 1, -1]),
    st.floats(allow_nan=False),
    st.booleans(),
    st.text(max_size=5),
)
items = st.one_of(
    st.fixed_dictionaries({"baseUrl": urls, "monitor": bools, "lastUpdate": times}, optional={"extra": st.integers()}),
    st.dictionaries(st.sampled_from(["baseUrl", "monitor", "lastUpdate"]), st.integers()),
    st.integers(),
    st.text(max_size=3),
    st.none(),
)


def outcome(schema: Schema, data: Any) -> tuple[str, Any]:
    try:
        loaded = schema.load({"items": data})
    except ValidationError as exc:
        return ("error", exc.messages)
    values = [(e["baseUrl"], e["monitor"], e["lastUpdate"]) if isinstance(e, dict) else tuple(e[:3])
              for e in loaded["items"]]
    return ("ok", values)


@settings(max_examples=400)
@given(st.lists(items, max_size=6))
def test_fast_entry_list_accepts_and_refuses_exactly_what_the_schema_does(data: list[Any]) -> None:
    plain, fast = outcome(PlainSchema(), data), outcome(FastSchema(), data)
    assert plain[0] == fast[0]
    if plain[0] == "ok":
        assert plain[1] == fast[1]
    else:
        assert plain[1] == fast[1]  # the same messages, field by field


def test_non_list_is_refused() -> None:
    assert outcome(FastSchema(), {"a": 1})[0] == "error"


entries = st.lists(
    st.builds(
        ServerEntry,
        st.sampled_from(["http://a/", "http://b:81/", 'http://q"uote/', "http://\u00e9/", "http://z/"]),
        st.booleans(),
        st.integers(0, MAX_SAFE_INTEGER),
        st.booleans(),
    ),
    max_size=8,
    unique_by=lambda e: e.base_url,
)


@given(entries)
def test_fast_encoding_parses_to_the_plain_encoding(view: list[ServerEntry]) -> None:
    assert json.loads(encode_gossip(view)) == json.loads(json.dumps(gossip_message(view)))
    assert json.loads(encode_server_list(view)) == entries_to_wire(view)


# -- messages a peer with the same settings accepts (issue 9, item 3) ---------

import pytest  # noqa: E402

from flask_clustershazbot.errors import InvalidMessage  # noqa: E402
from flask_clustershazbot.wire import load_gossip, load_server_list, parse_json  # noqa: E402

OWN = "http://self.example/"


def long_url(index: int) -> str:
    return f"http://h{index}.example/{'p' * 2000}/"


def big_view(count: int) -> list[ServerEntry]:
    """Own entry (oldest of all), ten online peers, then offline ones of rising age."""
    view = [ServerEntry(OWN, False, 1, True)]
    view += [ServerEntry(long_url(i), False, 1_000 + i, True) for i in range(10)]
    view += [ServerEntry(long_url(i), False, 5_000_000 - i, False) for i in range(10, count)]
    return view


def test_a_view_that_fits_is_encoded_exactly_as_without_limits() -> None:
    view = big_view(50)
    plain = encode_gossip(view)
    assert encode_gossip(view, max_entries=len(view), max_bytes=len(plain), own_url=OWN) == plain
    assert len(parse_json(encode_gossip(view, max_entries=len(view), max_bytes=len(plain) - 1))["offline"]) < 40


def test_a_view_over_the_byte_cap_keeps_self_then_online_then_newest_offline() -> None:
    view = big_view(300)  # about 600 KB
    limit = 100 * 1024
    body = encode_gossip(view, max_bytes=limit, own_url=OWN)
    assert len(body) <= limit
    sent = load_gossip(parse_json(body))
    urls = {entry.base_url for entry in sent}
    assert OWN in urls
    assert {long_url(i) for i in range(10)} <= urls  # every online peer
    offline = sorted((e for e in sent if not e.online), key=lambda e: -e.last_update)
    assert [e.base_url for e in offline] == [long_url(i) for i in range(10, 10 + len(offline))]  # the newest
    assert len(sent) > 30  # and the message is filled, not just trimmed
    # Lists stay sorted by base URL, as in every message.
    data = parse_json(body)
    for key in ("online", "offline"):
        assert [item["baseUrl"] for item in data[key]] == sorted(item["baseUrl"] for item in data[key])


def test_a_view_over_the_entry_cap_is_trimmed_to_it() -> None:
    view = big_view(120)
    sent = load_gossip(parse_json(encode_gossip(view, max_entries=40, own_url=OWN)))
    assert len(sent) == 40 and OWN in {e.base_url for e in sent}
    assert sum(e.online for e in sent) == 11


# -- printable characters only on the master-list path (issue 15, item 6) -----


@pytest.mark.parametrize("char", ["\x9b", "\x9d", "\x9c", "\u202e", "\u200b", "\u2028", "\ufeff", "\x85", "\ud800"])
def test_a_stored_list_with_a_non_printable_url_is_refused(char: str) -> None:
    data = {"online": [{"baseUrl": "http://good.example/", "monitor": False, "lastUpdate": 1},
                       {"baseUrl": f"http://evil.example/{char}2J", "monitor": False, "lastUpdate": 1}]}
    with pytest.raises(InvalidMessage) as caught:
        load_server_list(data)
    assert "Not a valid base URL" in str(caught.value.details)
