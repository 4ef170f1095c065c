"""Property tests of merge with server metadata (docs/protocol.md section 8.5):
the join laws still hold, a relay that drops ``meta`` never erases it, bad
metadata is refused per entry, and the wire carries it unchanged."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError, fields

from flask_clustershazbot.protocol.membership import Membership, join
from flask_clustershazbot.protocol.metadata import (
    DEFAULT_MAX_METADATA_BYTES,
    MALFORMED_META,
    NO_META,
    Meta,
    meta_from_wire,
    meta_size,
)
from flask_clustershazbot.protocol.model import ServerEntry, entries_to_wire
from flask_clustershazbot.schemas import MAX_SAFE_INTEGER, GossipServerSchema, ServerEntries
from flask_clustershazbot.urls import normalize_base_url
from flask_clustershazbot.wire import encode_gossip, encode_server_list, gossip_message, load_gossip, parse_json

NOW = 1_800_000_000_000
RETENTION = 86_400_000
SKEW = 300_000
OBSERVER = "http://observer/"
URLS = [f"http://s{i}/" for i in range(6)]

# -- strategies ----------------------------------------------------------------

#: A few keys, so that generated entries often share keys and differ in values.
KEYS = ["zone", "role", "version", "a.b-c_d", "x" * 64]
#: Printable text, Unicode included (what a metadata value may hold).
values = st.text(max_size=12).filter(str.isprintable)


def as_meta(mapping: dict[str, str]) -> Meta:
    return tuple(sorted(mapping.items()))


#: Metadata within the default size limit: none, a few common values (so that
#: entries collide on everything but metadata), or arbitrary pairs.
metas = st.one_of(
    st.just(NO_META),
    st.sampled_from([as_meta({"zone": "a"}), as_meta({"zone": "b"}), as_meta({"zone": "a", "role": "web"})]),
    st.dictionaries(st.sampled_from(KEYS), values, max_size=4).map(as_meta),
)
times = st.integers(min_value=NOW - RETENTION, max_value=NOW + SKEW)
#: Few distinct times, so that equal versions (where the tie-breaks act) are common.
#: (one_of picks a branch uniformly: three in four draws are one of two times.)
few_times = st.sampled_from([NOW - 1, NOW])
close_times = st.one_of(few_times, few_times, few_times, times)
entries = st.builds(ServerEntry, st.sampled_from(URLS), st.booleans(), close_times, st.booleans(), metas)
views = st.lists(entries, max_size=12)
same_server = st.builds(ServerEntry, st.just(URLS[0]), st.booleans(), few_times, st.booleans(), metas)


def fresh(self_url: str = OBSERVER, meta: Meta = NO_META) -> Membership:
    return Membership(self_url, monitor=False, now_ms=NOW, retention_ms=RETENTION, max_skew_ms=SKEW, meta=meta)


def peers(membership: Membership) -> dict[str, ServerEntry]:
    return {u: e for u, e in membership.entries.items() if u != membership.self_url}


def merged(*parts: list[ServerEntry]) -> dict[str, ServerEntry]:
    membership = fresh()
    for part in parts:
        membership.merge(part, NOW, 0.0)
    return peers(membership)


def meta_of_size(size: int, key: str = "blob") -> Meta:
    """Metadata whose canonical encoding is exactly ``size`` bytes, with a
    multi-byte character in it."""
    overhead = meta_size(((key, ""),))
    filler = size - overhead - 2
    assert filler >= 0
    meta: Meta = ((key, "\u00e9" + "v" * filler),)  # é is two bytes in UTF-8
    assert meta_size(meta) == size
    return meta


# -- the join laws ---------------------------------------------------------------


@given(same_server, same_server, same_server)
def test_join_of_entries_with_metadata_is_a_join(x: ServerEntry, y: ServerEntry, z: ServerEntry) -> None:
    assert join(x, y) == join(y, x)
    assert join(join(x, y), z) == join(x, join(y, z))
    assert join(x, x) == x
    assert join(x, y) in (x, y)
    if (x.last_update, x.online, x.monitor) == (y.last_update, y.online, y.monitor) and bool(x.meta) != bool(y.meta):
        assert join(x, y).meta  # metadata beats none at the same version


@given(views, views)
def test_merge_with_metadata_is_commutative(a: list[ServerEntry], b: list[ServerEntry]) -> None:
    assert merged(a, b) == merged(b, a)


@given(views, views, views)
def test_merge_with_metadata_is_associative(a: list[ServerEntry], b: list[ServerEntry], c: list[ServerEntry]) -> None:
    assert merged(list(merged(a, b).values()), c) == merged(a, list(merged(b, c).values()))


@given(views)
def test_merge_with_metadata_is_idempotent(a: list[ServerEntry]) -> None:
    once = merged(a)
    assert merged(a, a) == once
    assert merged(a, list(once.values())) == once


@settings(max_examples=60)
@given(views.flatmap(lambda v: st.tuples(st.just(v), st.permutations(v), st.integers(0, len(v)))))
def test_any_order_and_split_of_the_same_entries_gives_the_same_view(
    drawn: tuple[list[ServerEntry], list[ServerEntry], int],
) -> None:
    view, shuffled, cut = drawn
    assert merged(shuffled) == merged(view)
    assert merged(shuffled[cut:], shuffled[:cut]) == merged(view)


#: One message as a server sends it: at most one entry per server.
messages = st.lists(entries, max_size=6, unique_by=lambda e: e.base_url)


@given(views, messages)
def test_meta_changed_names_exactly_the_peers_whose_metadata_changed(
    a: list[ServerEntry], b: list[ServerEntry]
) -> None:
    membership = fresh()
    membership.merge(a, NOW, 0.0)
    before = peers(membership)
    report = membership.merge(b, NOW, 0.0)
    after = peers(membership)
    expected = {u for u, e in after.items() if (before[u].meta if u in before else NO_META) != e.meta}
    assert sorted(report.meta_changed) == sorted(expected)


# -- a relay without metadata ----------------------------------------------------


@given(views, st.booleans())
def test_a_copy_without_meta_at_the_same_version_never_erases_it(a: list[ServerEntry], stripped_first: bool) -> None:
    stripped = [e._replace(meta=NO_META) for e in a]
    view = merged(stripped, a) if stripped_first else merged(a, stripped)
    assert view == merged(a)


@given(views)
def test_a_relay_that_drops_the_unknown_meta_key_changes_nothing(a: list[ServerEntry]) -> None:
    """An older peer relays our view through its own schema: ``meta`` is gone
    from every entry, yet merging its relay changes nothing here."""
    membership = fresh()
    membership.merge(a, NOW, 0.0)
    before = dict(membership.entries)
    relayed: dict[str, Any] = json.loads(encode_gossip(list(before.values())))
    for key in ("online", "offline"):
        for item in relayed[key]:
            item.pop("meta", None)
    report = membership.merge(load_gossip(relayed), NOW, 0.0)
    assert membership.entries == before
    assert report.changed == [] and report.meta_changed == [] and report.refuted == []


# -- claims about ourselves ------------------------------------------------------


@given(metas.filter(bool), st.booleans(), st.booleans())
def test_a_claim_about_us_without_meta_at_our_version_is_no_reason_to_refute(
    mine: Meta, drained: bool, monitor: bool
) -> None:
    me = Membership(URLS[0], monitor=monitor, now_ms=NOW, retention_ms=RETENTION, max_skew_ms=SKEW, meta=mine)
    if drained:
        me.set_online(False, NOW)
    before = me.own
    report = me.merge([before._replace(meta=NO_META)], NOW, 0.0)
    assert me.own == before  # no version bump, metadata kept
    assert report.refuted == []


@given(metas, metas, st.booleans())
def test_a_claim_with_other_meta_at_our_version_is_refuted(mine: Meta, theirs: Meta, drained: bool) -> None:
    me = Membership(URLS[0], monitor=False, now_ms=NOW, retention_ms=RETENTION, max_skew_ms=SKEW, meta=mine)
    if drained:
        me.set_online(False, NOW)
    before = me.own
    claim = before._replace(meta=theirs)
    report = me.merge([claim], NOW, 0.0)
    if theirs and theirs != mine:
        assert me.own.last_update > before.last_update  # a new version that beats the claim everywhere
        assert me.own._replace(last_update=before.last_update) == before  # and says what we say
        assert report.refuted == [claim]
    else:
        assert me.own == before and report.refuted == []


@given(metas)
def test_our_newer_metadata_beats_every_copy_of_the_old(new: Meta) -> None:
    me = fresh(URLS[0], meta=(("zone", "a"),))
    old = me.own
    me.set_metadata(new, NOW)
    other = fresh()
    other.merge([old], NOW, 0.0)
    other.merge([me.own], NOW, 0.0)
    other.merge([old, old._replace(meta=NO_META)], NOW, 0.0)
    assert other.entries[URLS[0]] == me.own
    assert other.entries[URLS[0]].meta == new
    assert me.own.last_update > old.last_update


# -- bad metadata ----------------------------------------------------------------

#: What a hostile or broken peer may put in ``meta``.
bad_wire_metas = st.one_of(
    st.dictionaries(st.text(max_size=70).filter(lambda k: not (k and len(k) <= 64 and k.isascii()
                                                            and all(c in "abcdefghijklmnopqrstuvwxyz0123456789_.-"
                                                                    for c in k))),
                    values, min_size=1, max_size=3),
    st.dictionaries(st.sampled_from(KEYS), st.one_of(st.integers(), st.none(), st.booleans(), st.lists(values)),
                    min_size=1, max_size=3),
    st.dictionaries(st.sampled_from(KEYS), st.sampled_from(["\n", "a\x00b", "\u2028", "\x1b[31m"]), min_size=1),
    st.lists(values, min_size=1, max_size=3),
    values,
    st.integers(),
    st.booleans(),
)


@given(bad_wire_metas)
def test_malformed_meta_on_the_wire_becomes_an_entry_merge_refuses(wire_meta: Any) -> None:
    assert meta_from_wire(wire_meta) == MALFORMED_META


@settings(max_examples=50)
@given(views, views, st.data())
def test_bad_metadata_is_refused_per_entry_and_changes_nothing(
    held: list[ServerEntry], good: list[ServerEntry], data: st.DataObject
) -> None:
    oversized = meta_of_size(DEFAULT_MAX_METADATA_BYTES + 1)
    bad = [
        e._replace(meta=data.draw(st.sampled_from([MALFORMED_META, oversized])), last_update=NOW)
        for e in data.draw(st.lists(entries, min_size=1, max_size=6))
    ]
    mixed = data.draw(st.permutations(good + bad))
    membership = fresh()
    membership.merge(held, NOW, 0.0)
    report = membership.merge(mixed, NOW, 0.0)
    assert peers(membership) == merged(held, good)
    assert sorted(report.refused_meta) == sorted(e.base_url for e in bad)
    assert not ({e.base_url for e in report.changed} - {e.base_url for e in good})


def test_bad_metadata_in_a_gossip_message_refuses_that_entry_alone() -> None:
    message = {
        "message": "gossip",
        "online": [
            {"baseUrl": URLS[0], "monitor": False, "lastUpdate": NOW, "meta": {"Zone": "a"}},
            {"baseUrl": URLS[1], "monitor": False, "lastUpdate": NOW, "meta": {"zone": 1}},
            {"baseUrl": URLS[2], "monitor": False, "lastUpdate": NOW, "meta": dict(meta_of_size(1025))},
            {"baseUrl": URLS[3], "monitor": False, "lastUpdate": NOW, "meta": dict(meta_of_size(1024))},
            {"baseUrl": URLS[4], "monitor": False, "lastUpdate": NOW, "meta": {"zone": "b"}},
            {"baseUrl": URLS[5], "monitor": False, "lastUpdate": NOW},
        ],
        "offline": [],
    }
    membership = fresh()
    report = membership.merge(load_gossip(parse_json(json.dumps(message))), NOW, 0.0)
    assert sorted(report.refused_meta) == URLS[:3]
    assert {u: e.metadata for u, e in peers(membership).items()} == {
        URLS[3]: dict(meta_of_size(1024)),
        URLS[4]: {"zone": "b"},
        URLS[5]: {},
    }


def test_the_size_limit_is_the_configured_one() -> None:
    small = Membership(OBSERVER, monitor=False, now_ms=NOW, retention_ms=RETENTION, max_skew_ms=SKEW,
                       max_meta_bytes=100)
    report = small.merge(
        [ServerEntry(URLS[0], False, NOW, True, meta_of_size(100)),
         ServerEntry(URLS[1], False, NOW, True, meta_of_size(101))],
        NOW, 0.0,
    )
    assert report.refused_meta == [URLS[1]]
    assert list(peers(small)) == [URLS[0]]


# -- the wire ----------------------------------------------------------------------

wire_metas = st.one_of(
    metas,
    st.dictionaries(st.sampled_from(KEYS), st.text(max_size=40).filter(str.isprintable), max_size=5).map(as_meta),
    st.sampled_from([meta_of_size(DEFAULT_MAX_METADATA_BYTES), meta_of_size(DEFAULT_MAX_METADATA_BYTES + 1),
                     (("q", 'a"b\\c'),), (("emoji", "\U0001f600\u00e9\u4e2d"),)]),
)
wire_views = st.lists(
    st.builds(
        ServerEntry,
        # Normalised already, as entries in a view are: the round trip is exact.
        st.sampled_from([normalize_base_url(u) for u in ("http://a/", "http://b:81/", 'http://q"uote/',
                                                          "http://\u00e9/", "http://z/")]),
        st.booleans(),
        st.integers(0, MAX_SAFE_INTEGER),
        st.booleans(),
        wire_metas,
    ),
    max_size=8,
    unique_by=lambda e: e.base_url,
)


@settings(max_examples=40)
@given(wire_views)
def test_entries_with_metadata_survive_encode_and_decode(view: list[ServerEntry]) -> None:
    decoded = load_gossip(parse_json(encode_gossip(view)))
    assert sorted(decoded) == sorted(view)


@settings(max_examples=40)
@given(wire_views)
def test_fast_encoding_with_metadata_parses_to_the_plain_encoding(view: list[ServerEntry]) -> None:
    assert json.loads(encode_gossip(view)) == json.loads(json.dumps(gossip_message(view)))
    assert json.loads(encode_server_list(view)) == entries_to_wire(view)


def test_an_entry_without_metadata_is_sent_exactly_as_before() -> None:
    entry = ServerEntry("http://a/", True, 5, True)
    assert encode_gossip([entry]) == (
        b'{"message":"gossip","online":[{"baseUrl":"http://a/","monitor":true,"lastUpdate":5}],"offline":[]}'
    )


class PlainSchema(Schema):
    """The straightforward schema the fast field must match."""

    items = fields.Nested(GossipServerSchema, many=True, required=True)


class FastSchema(Schema):
    items = ServerEntries(online=True, required=True)


any_wire_meta = st.one_of(
    st.none(),
    wire_metas.map(dict),
    bad_wire_metas,
    st.dictionaries(st.sampled_from(["zone", "Zone", "", "r" * 65]), st.one_of(values, st.integers()), max_size=3),
)
items = st.one_of(
    st.fixed_dictionaries(
        {"baseUrl": st.sampled_from(["http://a/", "HTTPS://B:443", "ftp://d/", "", 'http://q"uote/']),
         "monitor": st.one_of(st.booleans(), st.integers(0, 1)),
         "lastUpdate": st.one_of(st.integers(-1, MAX_SAFE_INTEGER + 1), st.floats(allow_nan=False))},
        optional={"meta": any_wire_meta},
    ),
    st.integers(),
    st.none(),
)


def outcome(schema: Schema, data: Any) -> tuple[str, Any]:
    try:
        loaded = schema.load({"items": data})
    except ValidationError as exc:
        return ("error", exc.messages)
    values = [
        (e["baseUrl"], e["monitor"], e["lastUpdate"], meta_from_wire(e["meta"])) if isinstance(e, dict)
        else (e.base_url, e.monitor, e.last_update, e.meta)
        for e in loaded["items"]
    ]
    return ("ok", values)


@settings(max_examples=150)
@given(st.lists(items, max_size=6))
def test_fast_entry_list_reads_meta_exactly_as_the_schema_does(data: list[Any]) -> None:
    assert outcome(FastSchema(), data) == outcome(PlainSchema(), data)

