"""The state stores behind one interface: the view, the counters (Stats) and
flush_pending, the same for the memory and the SQLite store; and the process
group that chooses the store, claims the run and elects the leader."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from flask_clustershazbot.protocol.membership import Membership
from flask_clustershazbot.protocol.model import ServerEntry
from flask_clustershazbot.state.base import MemoryStore, StateStore
from flask_clustershazbot.state.server import SharedProcesses, SingleProcess, process_group
from flask_clustershazbot.state.sqlite import SqliteStore

from ..support.leader import lock_holder
from ..support.waiting import wait_until


def new_membership() -> Membership:
    return Membership("http://me/", monitor=False, now_ms=1000, retention_ms=10**12, max_skew_ms=10**12)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    opened: StateStore = (
        MemoryStore(new_membership()) if request.param == "memory"
        else SqliteStore(str(tmp_path / "state.sqlite3"), new_membership)
    )
    yield opened
    opened.close()


def test_a_transaction_keeps_what_it_changed(store: StateStore) -> None:
    with store.transaction() as membership:
        membership.merge([ServerEntry("http://x/", False, 5, True)], 1000, mono=1.0)
    with store.transaction() as membership:
        assert membership.entries["http://x/"].last_update == 5


def test_counts_and_marks_add_up_for_the_server(store: StateStore) -> None:
    store.stats.count("exchanges_sent")
    store.stats.count("exchanges_sent", 2)
    store.stats.mark("exchange_success", 100.0)
    store.stats.mark("exchange_success", 200.0)
    expected = ({"exchanges_sent": 3}, {"exchange_success": 200.0})
    assert store.stats.local() == expected
    assert store.stats.totals() == expected


def test_flush_pending_changes_no_view(store: StateStore) -> None:
    with store.transaction() as membership:
        before = membership.view()
    store.stats.count("refutations")
    store.flush_pending()
    with store.transaction() as membership:
        assert membership.view() == before
    assert store.stats.totals()[0] == {"refutations": 1}


def test_every_process_sees_the_server_totals_of_a_shared_store(tmp_path: Path) -> None:
    """Two stores on one file are two processes of one server: what each
    counts adds up, with no view change and no one wiring the store."""
    path = str(tmp_path / "state.sqlite3")
    first, second = SqliteStore(path, new_membership), SqliteStore(path, new_membership)
    first.stats.count("exchanges_received", 2)
    first.stats.mark("master_list_read", 50.0)
    second.stats.count("exchanges_received")
    second.stats.mark("master_list_read", 40.0)
    first.flush_pending()
    assert second.stats.totals() == ({"exchanges_received": 3}, {"master_list_read": 50.0})
    assert first.stats.totals() == second.stats.totals()
    assert first.stats.local() == ({"exchanges_received": 2}, {"master_list_read": 50.0})
    # Counted once: a second flush adds nothing.
    first.flush_pending()
    assert first.stats.totals()[0] == {"exchanges_received": 3}
    first.close()
    second.close()


def test_one_process_alone_starts_a_new_run_and_leads_at_once() -> None:
    group = process_group(None, "http://me/")
    assert isinstance(group, SingleProcess) and not group.shared
    events: list[str] = []
    group.join_run(lambda: events.append("run"))
    group.elect(lambda: events.append("lead"))
    assert events == ["run", "lead"]
    assert group.goodbye_on_shutdown and not group.owns_run()


def test_a_state_path_shares_the_view_between_groups(tmp_path: Path) -> None:
    path = str(tmp_path / "state.sqlite3")
    first, second = process_group(path, "http://me/"), process_group(path, "http://me/")
    assert first.shared and second.shared
    a, b = first.open_store(new_membership), second.open_store(new_membership)
    with a.transaction() as membership:
        membership.set_online(False, 5000)
    with b.transaction() as membership:
        assert not membership.own.online
    a.close()
    b.close()


def test_leadership_moves_when_the_leader_lets_go(tmp_path: Path) -> None:
    path = str(tmp_path / "state.sqlite3")
    first, second = SharedProcesses(path), SharedProcesses(path)
    elected: list[str] = []
    first.elect(lambda: elected.append("first"))
    wait_until(lambda: elected == ["first"], what="the first group to lead")
    second.elect(lambda: elected.append("second"))
    assert lock_holder(first.lock_path) == os.getpid()
    first.release()
    wait_until(lambda: elected == ["first", "second"], what="the lead to move")
    second.release()
    wait_until(lambda: lock_holder(second.lock_path) is None, what="the lock to be free")


def test_a_run_started_here_is_owned_here_until_handed_back(tmp_path: Path) -> None:
    group = SharedProcesses(str(tmp_path / "state.sqlite3"))
    store = group.open_store(new_membership)
    runs: list[int] = []
    group.join_run(lambda: runs.append(1))
    assert runs == [1] and group.owns_run()
    assert group.goodbye_on_shutdown  # outside gunicorn, this process says goodbye itself
    group.hand_back_run(1)  # another process's run now
    assert not group.owns_run()
    store.close()


def test_joining_while_the_state_is_locked_joins_later(tmp_path: Path) -> None:
    """A start never fails because another process holds the state locked:
    it joins the run once the lock is free, and not after release()."""
    path = str(tmp_path / "state.sqlite3")
    group = SharedProcesses(path)
    store = group.open_store(new_membership)
    assert isinstance(store, SqliteStore)
    store.busy_timeout = 0.2
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    runs: list[int] = []
    try:
        group.join_run(lambda: runs.append(1))  # returns at once
        assert runs == []
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    wait_until(lambda: runs == [1], timeout=10, what="the run joined in the background")
    group.release()
    store.close()


def test_no_join_after_release(tmp_path: Path) -> None:
    path = str(tmp_path / "state.sqlite3")
    group = SharedProcesses(path)
    store = group.open_store(new_membership)
    assert isinstance(store, SqliteStore)
    store.busy_timeout = 0.1
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    runs: list[int] = []
    try:
        group.join_run(lambda: runs.append(1))
        group.release()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    wait_until(lambda: not [t for t in threading.enumerate() if t.name == "shazbot-join"], timeout=10,
               what="the background join to give up")
    assert runs == []
    store.close()
