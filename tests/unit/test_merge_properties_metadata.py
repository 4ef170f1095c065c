"""Property tests of merge with metadata (docs/protocol.md section 8.5): still
a join, any metadata above none, and wrong metadata refused entry by entry."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from flask_clustershazbot.protocol.membership import Membership
from flask_clustershazbot.protocol.metadata import MALFORMED_META, NO_META, Meta
from flask_clustershazbot.protocol.model import ServerEntry

NOW = 1_800_000_000_000
RETENTION = 86_400_000
SKEW = 300_000
OBSERVER = "http://observer/"
URLS = [f"http://s{i}/" for i in range(4)]
LIMIT = 40  # SHAZBOT_MAX_METADATA_BYTES here: the long value is over it

METAS: list[Meta] = [
    NO_META,
    (("role", "web"),),
    (("role", "db"),),
    (("role", "web"), ("zone", "a")),
    (("zone", "a"),),
    (("note", "x" * 60),),  # valid, but over LIMIT
    MALFORMED_META,
]

times = st.integers(min_value=NOW - 5, max_value=NOW)  # few versions: many ties
entries = st.builds(ServerEntry, st.sampled_from(URLS), st.booleans(), times, st.booleans(), st.sampled_from(METAS))
views = st.lists(entries, max_size=10)


def merged(*parts: list[ServerEntry]) -> dict[str, ServerEntry]:
    membership = Membership(OBSERVER, monitor=False, now_ms=NOW, retention_ms=RETENTION, max_skew_ms=SKEW,
                            max_meta_bytes=LIMIT)
    for part in parts:
        membership.merge(part, NOW, 0.0)
    return {u: e for u, e in membership.entries.items() if u != OBSERVER}


@given(views, views)
def test_merge_with_metadata_is_commutative(a: list[ServerEntry], b: list[ServerEntry]) -> None:
    assert merged(a, b) == merged(b, a)


@given(views, views, views)
def test_merge_with_metadata_is_associative(a: list[ServerEntry], b: list[ServerEntry], c: list[ServerEntry]) -> None:
    assert merged(list(merged(a, b).values()), c) == merged(a, list(merged(b, c).values()))


@given(views)
def test_merge_with_metadata_is_idempotent_and_ignores_order(a: list[ServerEntry]) -> None:
    once = merged(a)
    assert merged(a, a) == once == merged(list(reversed(a)))
    assert merged(a, list(once.values())) == once


@given(views)
def test_refused_metadata_never_enters_a_view(a: list[ServerEntry]) -> None:
    kept = {e.meta for e in merged(a).values()}
    assert MALFORMED_META not in kept and (("note", "x" * 60),) not in kept


@given(entries, views)
def test_a_copy_without_meta_never_erases_metadata_at_the_same_version(
    entry: ServerEntry, others: list[ServerEntry]
) -> None:
    relayed = entry._replace(meta=NO_META)  # what a peer that drops the key sends
    before = merged([entry], others)
    if entry.base_url in before and entry.meta not in (MALFORMED_META, (("note", "x" * 60),)):
        assert merged([entry], others, [relayed]) == before
        assert merged([relayed], others, [entry]) == before
