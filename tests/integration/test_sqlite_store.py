"""The shared state store: what one process writes, the others see; a crash
mid-write leaves the last committed state; the file is private."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flask_clustershazbot.protocol.membership import Membership
from flask_clustershazbot.protocol.model import ServerEntry
from flask_clustershazbot.state.sqlite import SqliteStore, default_state_path

ROOT = Path(__file__).resolve().parents[1]


_opened: list[SqliteStore] = []


def open_store(path: str, *args: Any, **kwargs: Any) -> SqliteStore:
    """A store closed when the test ends (an open one would be a leak)."""
    store = SqliteStore(path, *args, **kwargs)
    _opened.append(store)
    return store


@pytest.fixture(autouse=True)
def _close_stores() -> Iterator[None]:
    yield
    while _opened:
        _opened.pop().close()


def new_membership() -> Membership:
    return Membership("http://me/", monitor=False, now_ms=1000, retention_ms=10**12, max_skew_ms=10**12)


def entry(url: str, version: int, online: bool = True) -> ServerEntry:
    return ServerEntry(url, False, version, online)


def test_what_one_process_writes_the_others_read(tmp_path: Path) -> None:
    path = str(tmp_path / "state.sqlite3")
    a, b = open_store(path, new_membership), open_store(path, new_membership)
    with a.transaction() as m:
        m.merge([entry("http://x/", 5), entry("http://y/", 5)], 1000, mono=1.0)
    with b.transaction() as m:
        assert m.entries["http://x/"] == entry("http://x/", 5) and m.heard_at["http://x/"] == 1.0
        m.merge([entry("http://x/", 7, online=False)], 1000, mono=2.0)
        m.cleanup(10**13)  # forget every peer
    with a.transaction() as m:
        assert set(m.entries) == {"http://me/"}
        m.set_online(False, 2000)
    with b.transaction() as m:
        assert not m.own.online and m.own.last_update == 2000


def test_a_failed_transaction_changes_nothing(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "s.sqlite3"), new_membership)
    with store.transaction() as m:
        m.merge([entry("http://x/", 5)], 1000, mono=1.0)
    with pytest.raises(RuntimeError), store.transaction() as m:
        m.merge([entry("http://x/", 9)], 1000, mono=1.0)
        raise RuntimeError("boom")
    with store.transaction() as m:
        assert m.entries["http://x/"].last_update == 5


def test_a_writer_killed_mid_transaction_leaves_the_last_commit(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sqlite3")
    store = open_store(path, new_membership)
    with store.transaction() as m:
        m.merge([entry("http://x/", 5)], 1000, mono=1.0)
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        from tests.integration.test_sqlite_store import new_membership, entry
        from flask_clustershazbot.state.sqlite import SqliteStore
        store = SqliteStore({path!r}, new_membership)
        with store.transaction() as m:
            m.merge([entry("http://x/", 99), entry("http://z/", 99)], 1000, mono=1.0)
            store._save(store._conn, m, {{}}, {{}}, None)  # rows written, not committed
            os._exit(0)
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    reader = open_store(path, new_membership)
    with reader.transaction() as m:
        assert m.entries["http://x/"].last_update == 5 and "http://z/" not in m.entries
        m.merge([entry("http://x/", 6)], 1000, mono=2.0)  # and it is writable again


def test_state_file_and_folder_are_private(tmp_path: Path) -> None:
    path = tmp_path / "private" / "state.sqlite3"
    store = open_store(str(path), new_membership)
    with store.transaction():
        pass
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_default_path_is_per_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    a, b = default_state_path("http://a/"), default_state_path("http://b/")
    assert a != b and a.startswith(str(tmp_path / "flask-clustershazbot"))


def test_claim_instance_is_true_once_per_run(tmp_path: Path) -> None:
    path = str(tmp_path / "s.sqlite3")
    first, second = open_store(path, new_membership), open_store(path, new_membership)
    assert first.claim_instance("run-1") is True
    assert second.claim_instance("run-1") is False
    assert second.claim_instance("run-2") is True


def test_a_write_lock_held_too_long_is_store_busy_not_a_crash(tmp_path: Path) -> None:
    """Another process stopped inside a write transaction: every operation
    gives up after the busy timeout with StoreBusy (a 503 with Retry-After),
    and works again once the lock is released."""
    import sqlite3
    import time

    from flask_clustershazbot.errors import StoreBusy

    path = str(tmp_path / "s.sqlite3")
    store = open_store(path, new_membership, busy_timeout=0.5)
    with store.transaction() as m:
        m.merge([entry("http://x/", 5)], 1000, mono=1.0)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the stopped process's lock
    try:
        for attempt in (store.transaction().__enter__, lambda: store.set_meta("k", "v"),
                        lambda: store.claim_instance("run-9"), store.totals, store.flush_pending):
            began = time.monotonic()
            with pytest.raises(StoreBusy) as raised:
                attempt()
            assert time.monotonic() - began < 5
            assert raised.value.status == 503 and raised.value.headers.get("Retry-After", "").isdigit()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with store.transaction() as m:
        assert m.entries["http://x/"].last_update == 5
        m.merge([entry("http://x/", 6)], 1000, mono=2.0)
    assert store.claim_instance("run-9") is True


def test_a_process_joining_a_run_needs_no_write_lock(tmp_path: Path) -> None:
    """A gunicorn worker booting (or recycled) while another process holds
    the write lock still joins the run under way: its boot must not fail,
    since a worker that fails to boot makes gunicorn halt the whole server."""
    import sqlite3

    path = str(tmp_path / "s.sqlite3")
    assert open_store(path, new_membership).claim_instance("run-1") is True
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        booting = open_store(path, new_membership, busy_timeout=0.5)
        assert booting.claim_instance("run-1") is False
        assert booting.get_meta("instance") == "run-1"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
