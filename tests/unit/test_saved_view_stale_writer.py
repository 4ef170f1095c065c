"""A saved view belongs to one cluster, also against processes that opened
the file before another cluster took it over (a worker finishing during a
reload, a second server on the same port with --reuse-port): such a process
of the old cluster refuses to write (503, logged once) instead of refilling
the new cluster's view. And the file names the gossip secrets only by salted,
slow fingerprints (docs/protocol.md section 7)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from flask_clustershazbot.errors import StoreBusy
from flask_clustershazbot.protocol.membership import Membership
from flask_clustershazbot.protocol.model import ServerEntry
from flask_clustershazbot.state.identity import ClusterIdentity
from flask_clustershazbot.state.sqlite import SqliteStore

ME = "http://me/"
OLD = ClusterIdentity.of("file:///srv/old/list.json", ("old-secret",))
NEW = ClusterIdentity.of("file:///srv/new/list.json", ("new-secret",))

_opened: list[SqliteStore] = []


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    yield
    while _opened:
        _opened.pop().close()


def new_membership() -> Membership:
    return Membership(ME, monitor=False, now_ms=1000, retention_ms=10**12, max_skew_ms=10**12)


def open_store(path: Path, identity: ClusterIdentity | None) -> SqliteStore:
    store = SqliteStore(str(path), new_membership, cluster=identity)
    _opened.append(store)
    return store


def learn(store: SqliteStore, url: str, version: int) -> None:
    with store.transaction() as membership:
        membership.merge([ServerEntry(url, False, version, True)], 1000, mono=float(version))


def peers(path: Path, identity: ClusterIdentity) -> set[str]:
    with open_store(path, identity).transaction() as membership:
        return set(membership.entries) - {ME}


def stored_meta(path: Path) -> dict[str, str]:
    with contextlib.closing(sqlite3.connect(path)) as conn:  # a connection's own `with` does not close it
        return {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM meta")}


def test_a_process_of_the_old_cluster_cannot_refill_a_file_the_new_cluster_emptied(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    old = open_store(path, OLD)
    learn(old, "http://old-peer-1/", 5)
    new = open_store(path, NEW)
    with new.transaction() as membership:
        assert set(membership.entries) == {ME}  # emptied: good
    # The old cluster's process gossips on (its loop has not stopped yet):
    # refused like a busy store (the endpoints answer 503, the loop skips).
    with pytest.raises(StoreBusy):
        learn(old, "http://old-peer-2/", 6)
    assert peers(path, NEW) == set(), "the new cluster's view holds the old cluster's peers"


def test_the_old_process_says_so_once_and_keeps_refusing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.sqlite3"
    old = open_store(path, OLD)
    learn(old, "http://old-peer-1/", 5)
    new = open_store(path, NEW)
    learn(new, "http://new-peer/", 7)
    caplog.clear()  # the new cluster's reset is logged too, by its own process
    with caplog.at_level(logging.DEBUG, logger="flask_clustershazbot"):
        for version in range(10, 15):
            with pytest.raises(StoreBusy) as refused:
                learn(old, "http://old-peer-2/", version)
            assert "another cluster" in refused.value.message
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert str(path) in warnings[0] and "another cluster" in warnings[0]
    assert "old-secret" not in caplog.text and "new-secret" not in caplog.text
    # The new cluster's processes are not disturbed.
    learn(new, "http://new-peer-2/", 8)
    assert peers(path, NEW) == {"http://new-peer/", "http://new-peer-2/"}


def test_the_old_process_adds_no_counters_to_the_new_cluster(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    old = open_store(path, OLD)
    learn(old, "http://old-peer-1/", 5)
    new = open_store(path, NEW)
    learn(new, "http://new-peer/", 7)
    old.stats.count("exchanges_sent", 5)
    with pytest.raises(StoreBusy):
        old.flush_pending()
    new.stats.count("exchanges_sent", 1)
    assert new.stats.totals()[0].get("exchanges_sent") == 1


def test_another_process_of_the_same_cluster_writes_on_after_a_deletion(tmp_path: Path) -> None:
    """Rows deleted by a process of the same cluster (a new generation) are
    no takeover: a rotated secret ("new,old" beside "old") writes on."""
    path = tmp_path / "state.sqlite3"
    first = open_store(path, ClusterIdentity.of("file:///srv/old/list.json", ("old-secret",)))
    second = open_store(path, ClusterIdentity.of("file:///srv/old/list.json", ("rotated", "old-secret")))
    learn(first, "http://peer/", 5)
    learn(second, "http://peer-2/", 6)
    with first.transaction() as membership:
        membership.entries.pop("http://peer/")
    learn(second, "http://peer-3/", 7)
    learn(first, "http://peer-4/", 8)
    assert peers(path, OLD) == {"http://peer-2/", "http://peer-3/", "http://peer-4/"}


def test_the_same_secret_has_another_fingerprint_in_every_file(tmp_path: Path) -> None:
    """A per-file random salt: one precomputed table does not fit two files,
    and the unsalted SHA-256 of the secret appears nowhere."""
    learn(open_store(tmp_path / "a.sqlite3", OLD), "http://peer/", 5)
    learn(open_store(tmp_path / "b.sqlite3", OLD), "http://peer/", 5)
    a, b = stored_meta(tmp_path / "a.sqlite3"), stored_meta(tmp_path / "b.sqlite3")
    assert a["cluster_salt"] != b["cluster_salt"]
    assert a["cluster_secrets"] and b["cluster_secrets"] and a["cluster_secrets"] != b["cluster_secrets"]
    unsalted = hashlib.sha256(b"flask-clustershazbot saved view\0old-secret").hexdigest()[:16]
    assert unsalted not in a["cluster_secrets"] + b["cluster_secrets"]
    # Both files still belong to their cluster.
    assert peers(tmp_path / "a.sqlite3", OLD) == {"http://peer/"}


def test_a_file_with_unsalted_fingerprints_is_emptied_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Written by a development build before salts: treated like a file that
    records no cluster."""
    path = tmp_path / "state.sqlite3"
    learn(open_store(path, None), "http://peer/", 5)
    unsalted = hashlib.sha256(b"flask-clustershazbot saved view\0old-secret").hexdigest()[:16]
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:  # close, and commit
        conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                         [("cluster_master_list", OLD.master_list), ("cluster_secrets", unsalted)])
    with caplog.at_level(logging.WARNING, logger="flask_clustershazbot"):
        assert peers(path, OLD) == set()
        learn(open_store(path, OLD), "http://peer-2/", 6)
        assert peers(path, OLD) == {"http://peer-2/"}
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1
