"""The fast paths of the wire format agree with marshmallow and json exactly."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError, fields

from flask_clustershazbot.model import ServerEntry
from flask_clustershazbot.schemas import MAX_SAFE_INTEGER, GossipServerSchema, ServerEntries
from flask_clustershazbot.wire import encode_gossip, encode_server_list, entries_to_wire, gossip_message


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
