"""Edge cases of metadata, ownership and cluster jobs found in review:
bytes on the wire, relays that drop ``meta``, jitter. Pure: no sockets."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from flask_clustershazbot.jobs import make_trigger
from flask_clustershazbot.protocol.membership import Membership
from flask_clustershazbot.protocol.model import ServerEntry
from flask_clustershazbot.protocol.ownership import owner_in_view
from flask_clustershazbot.wire import encode_gossip

NOW = 1_800_000_000_000
OWN = "http://s0.example/"


def test_a_trimmed_gossip_message_fits_the_peers_byte_limit_with_non_ascii_metadata() -> None:
    """encode_gossip(max_bytes=...) promises a message the peer accepts
    (its SHAZBOT_MAX_CONTENT_LENGTH, in bytes). Metadata is sent as UTF-8
    as is (canonical encoding), so a character may be 3 bytes: counting
    characters lets a message through that the peer answers 413."""
    entries = [
        ServerEntry(f"http://s{i}.example/", False, NOW, True, (("zone", "東" * 300),)) for i in range(20)
    ]
    for limit in (5_000, 10_000):
        body = encode_gossip(entries, max_bytes=limit, own_url=OWN)
        assert len(body) <= limit, f"{len(body)} bytes sent to a peer that accepts {limit}"


def test_a_newer_heartbeat_relayed_without_meta_wins_as_the_protocol_says() -> None:
    """docs/protocol.md 8.5: only a copy at the SAME version never erases
    metadata; a newer version without ``meta`` (an older peer relaying the
    next heartbeat) is the newer entry, and the metadata comes back with the
    next copy from a peer that carries it. Documented as the cost of a mixed
    cluster."""
    view = Membership(
        "http://observer.example/", monitor=False, now_ms=NOW, retention_ms=86_400_000, max_skew_ms=300_000
    )
    worker = "http://w.example/"
    view.merge([ServerEntry(worker, False, NOW, True, (("role", "worker"),))], NOW, 0.0)
    view.merge([ServerEntry(worker, False, NOW, True)], NOW, 0.5)  # same version, meta dropped
    assert view.entries[worker].metadata == {"role": "worker"}
    view.merge([ServerEntry(worker, False, NOW + 1000, True)], NOW + 1000, 1.0)  # newer, meta dropped
    assert view.entries[worker].metadata == {}
    view.merge([ServerEntry(worker, False, NOW + 1000, True, (("role", "worker"),))], NOW + 1000, 1.5)
    assert owner_in_view("job", view.view(), {"role": "worker"}) == worker


def test_an_interval_cluster_job_takes_no_jitter() -> None:
    """APScheduler adds each jitter to the previous jittered fire time, so
    fire times would walk off the grid every server shares: refused."""
    with pytest.raises(ValueError, match="no jitter"):
        make_trigger("interval", {"seconds": 10, "jitter": 2})
    trigger = make_trigger("interval", {"seconds": 10})
    now = datetime(2026, 1, 1, 0, 0, 3, tzinfo=timezone.utc)
    fire = trigger.get_next_fire_time(None, now)
    assert fire is not None and fire.timestamp() % 10 == 0  # on the shared grid
