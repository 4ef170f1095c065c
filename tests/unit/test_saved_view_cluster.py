"""A saved view belongs to one cluster: a state file written by a server of
another cluster (another master list, no gossip secret in common) is emptied
when a server opens it, once, whichever of its processes comes first; the
same cluster, or a rotated secret, keeps it (docs/protocol.md section 7)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from flask_clustershazbot.protocol.membership import Membership
from flask_clustershazbot.protocol.model import ServerEntry
from flask_clustershazbot.state.identity import ClusterIdentity
from flask_clustershazbot.state.process import HOOKS_ENV
from flask_clustershazbot.state.server import process_group
from flask_clustershazbot.state.sqlite import SqliteStore

ME = "http://me/"
LIST_A = "file:///srv/cluster-a/list.json"
LIST_B = "file:///srv/cluster-b/list.json"
SECRET = "gossip-secret-of-cluster-a"

_opened: list[SqliteStore] = []


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    yield
    while _opened:
        _opened.pop().close()


def new_membership() -> Membership:
    return Membership(ME, monitor=False, now_ms=1000, retention_ms=10**12, max_skew_ms=10**12)


def cluster(master_list: str = LIST_A, *secrets: str) -> ClusterIdentity:
    return ClusterIdentity.of(master_list, secrets or (SECRET,))


def open_store(path: Path, identity: ClusterIdentity | None) -> SqliteStore:
    store = SqliteStore(str(path), new_membership, cluster=identity)
    _opened.append(store)
    return store


def save_peers(path: Path, identity: ClusterIdentity | None) -> None:
    """A run of a server that learnt of two peers (one offline) and counted."""
    store = open_store(path, identity)
    with store.transaction() as membership:
        membership.merge([ServerEntry("http://peer/", False, 5, True),
                          ServerEntry("http://gone/", False, 5, False)], 1000, mono=1.0)
    store.stats.count("exchanges_sent", 3)
    store.flush_pending()
    store.close()


def peers(path: Path, identity: ClusterIdentity | None) -> set[str]:
    store = open_store(path, identity)
    with store.transaction() as membership:
        return set(membership.entries) - {ME}


def test_a_restart_of_the_same_cluster_keeps_the_saved_view(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    save_peers(path, cluster())
    assert peers(path, cluster()) == {"http://peer/", "http://gone/"}


def test_another_master_list_starts_with_an_empty_view(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "state.sqlite3"
    save_peers(path, cluster(LIST_A))
    with caplog.at_level(logging.WARNING, logger="flask_clustershazbot"):
        store = open_store(path, cluster(LIST_B))
        with store.transaction() as membership:
            # Nothing of the old view, not even the offline entry.
            assert set(membership.entries) == {ME}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "another cluster" in warnings[0].getMessage() and str(path) in warnings[0].getMessage()
    # The other cluster's counters are not this server's either.
    assert store.stats.totals()[0].get("exchanges_sent") is None


def test_no_gossip_secret_in_common_starts_with_an_empty_view(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.sqlite3"
    save_peers(path, cluster(LIST_A, SECRET))
    with caplog.at_level(logging.DEBUG):
        assert peers(path, cluster(LIST_A, "another-clusters-secret")) == set()
    assert caplog.records, "the reset is logged"
    assert SECRET not in caplog.text and "another-clusters-secret" not in caplog.text


def test_the_state_file_never_holds_a_secret(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    save_peers(path, cluster(LIST_A, SECRET, "older-secret"))
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert SECRET.encode() not in stored and b"older-secret" not in stored


def test_a_rotated_secret_keeps_the_saved_view(tmp_path: Path) -> None:
    """SHAZBOT_SECRET "old", then "new,old", then "new": one cluster throughout."""
    path = tmp_path / "state.sqlite3"
    save_peers(path, cluster(LIST_A, "old"))
    assert peers(path, cluster(LIST_A, "new", "old")) == {"http://peer/", "http://gone/"}
    assert peers(path, cluster(LIST_A, "new")) == {"http://peer/", "http://gone/"}


def test_the_master_list_credentials_may_change(tmp_path: Path) -> None:
    """A signed URL's query and a URL's user info rotate; the list stays the same."""
    path = tmp_path / "state.sqlite3"
    save_peers(path, cluster("https://u:one@lists.example/a.json?sig=1"))
    assert peers(path, cluster("https://u:two@lists.example/a.json?sig=2")) == {"http://peer/", "http://gone/"}


def test_a_brand_new_file_records_its_cluster(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    save_peers(path, cluster(LIST_A))  # a new file: nothing to reset, identity recorded
    assert peers(path, cluster(LIST_B)) == set()


def test_a_file_that_records_no_cluster_is_not_trusted(tmp_path: Path) -> None:
    """A view saved by an earlier version (no identity) may be any cluster's."""
    path = tmp_path / "state.sqlite3"
    save_peers(path, None)
    assert peers(path, cluster(LIST_A)) == set()


def test_only_the_first_process_resets_the_view(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Two processes (workers) of a server of cluster B open cluster A's file:
    the first to open it empties it; the second keeps what the first learnt."""
    path = tmp_path / "state.sqlite3"
    save_peers(path, cluster(LIST_A))
    first, second = open_store(path, cluster(LIST_B)), open_store(path, cluster(LIST_B))
    with caplog.at_level(logging.WARNING, logger="flask_clustershazbot"):
        with first.transaction() as membership:
            assert set(membership.entries) == {ME}
            membership.merge([ServerEntry("http://new-peer/", False, 9, True)], 1000, mono=2.0)
        with second.transaction() as membership:
            assert set(membership.entries) == {ME, "http://new-peer/"}
        with first.transaction() as membership:
            assert set(membership.entries) == {ME, "http://new-peer/"}
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_a_process_group_binds_its_file_to_the_cluster(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    save_peers(path, cluster(LIST_A))
    same = process_group(str(path), ME, cluster(LIST_A)).open_store(new_membership)
    with same.transaction() as membership:
        assert "http://peer/" in membership.entries
    same.close()
    other = process_group(str(path), ME, cluster(LIST_B)).open_store(new_membership)
    with other.transaction() as membership:
        assert set(membership.entries) == {ME}
    other.close()


def test_a_new_run_begins_after_a_reset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Emptying the view drops this server's own entry too: the next process
    to join starts a new run (and sets the server online), even a worker of
    the same gunicorn master (a reload with another cluster's settings)."""
    # Two workers of one gunicorn master: this process's parent serves both.
    monkeypatch.setenv("SERVER_SOFTWARE", "gunicorn/23.0.0")
    monkeypatch.setenv(HOOKS_ENV, "1")
    path = str(tmp_path / "state.sqlite3")
    first = process_group(path, ME, cluster(LIST_A))
    first.open_store(new_membership)
    runs: list[str] = []
    first.join_run(lambda: runs.append("a"))
    first.release()
    second = process_group(path, ME, cluster(LIST_B))
    store = second.open_store(new_membership)
    second.join_run(lambda: runs.append("b"))
    assert runs == ["a", "b"]
    store.close()
