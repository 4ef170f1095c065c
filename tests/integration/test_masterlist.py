"""Master-list stores against a real file system and a real HTTP store."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from flask_clustershazbot.deadline import deadline_session
from flask_clustershazbot.errors import MasterListError
from flask_clustershazbot.masterlist.core import MasterListStore
from flask_clustershazbot.masterlist.file import FileMasterList
from flask_clustershazbot.masterlist.http import HttpMasterList
from flask_clustershazbot.protocol.model import ServerEntry

from ..support.masterlist_server import MasterListServer

NOW = int(time.time() * 1000)


def add(entry: ServerEntry, pause: float = 0.0):  # type: ignore[no-untyped-def]
    """A merge that adds one entry, slowly enough that writers overlap."""

    def merge(current: list[ServerEntry]) -> list[ServerEntry]:
        time.sleep(pause)
        return [e for e in current if e.base_url != entry.base_url] + [entry]

    return merge


def write_concurrently(store: MasterListStore, count: int) -> set[str]:
    entries = [ServerEntry(f"http://s{i}/", i == 0, NOW + i, True) for i in range(count)]
    errors: list[Exception] = []

    def run(entry: ServerEntry) -> None:
        try:
            store.update(add(entry, pause=0.02))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in entries]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    return {e.base_url for e in store.read()}


def test_file_store_loses_no_concurrent_write_and_leaves_no_temp_files(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/list.json"
    store = FileMasterList(url, url)
    assert store.read() == []
    assert write_concurrently(store, 8) == {f"http://s{i}/" for i in range(8)}
    assert sorted(os.listdir(tmp_path)) == ["list.json", "list.json.lock"]


def test_file_store_replaces_a_corrupt_list(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text("{broken")
    store = FileMasterList(f"file://{path}", f"file://{path}")
    with pytest.raises(MasterListError):
        store.read()
    store.update(add(ServerEntry("http://a/", False, NOW, True)))
    assert [e.base_url for e in store.read()] == ["http://a/"]


def http_store(server: MasterListServer, auth: str = "Bearer store-secret") -> HttpMasterList:
    return HttpMasterList(server.url, server.url, auth, session=deadline_session(), timeout=5, max_body=1 << 20)


def test_http_store_reads_404_as_empty_and_writes_with_auth(master_store: MasterListServer) -> None:
    store = http_store(master_store)
    assert store.read() == []
    store.update(add(ServerEntry("http://a/", True, NOW, True)))
    assert master_store.statuses() == {"http://a/": True}
    assert master_store.seen_authorization == ["Bearer store-secret"]
    assert store.read() == [ServerEntry("http://a/", True, NOW, True)]


def test_http_store_uses_if_match_so_concurrent_writers_lose_nothing(master_store: MasterListServer) -> None:
    store = http_store(master_store)
    store.update(add(ServerEntry("http://seed/", False, NOW, True)))  # from now on there is an ETag
    urls = write_concurrently(store, 4)
    assert urls == {"http://seed/"} | {f"http://s{i}/" for i in range(4)}
    assert master_store.precondition_failures > 0  # the race happened and was retried


def test_http_store_wrong_credential_is_a_clear_error_without_the_secret(master_store: MasterListServer) -> None:
    store = http_store(master_store, auth="Bearer wrong-very-secret")
    with pytest.raises(MasterListError) as caught:
        store.update(add(ServerEntry("http://a/", False, NOW, True)))
    assert "401" in str(caught.value) and "wrong-very-secret" not in str(caught.value)
    assert master_store.document() is None


def test_http_store_unreachable_is_a_master_list_error() -> None:
    store = HttpMasterList("http://127.0.0.1:9/list.json", "http://127.0.0.1:9/list.json", "Bearer x",
                           session=deadline_session(), timeout=1, max_body=1000)
    with pytest.raises(MasterListError):
        store.read()
