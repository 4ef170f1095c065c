"""Master-list stores under hostile conditions: dripping and corrupt HTTP
stores, symlinked and non-regular files, secrets in URLs and credentials."""

from __future__ import annotations

import fcntl
import logging
import multiprocessing
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from flask_clustershazbot.deadline import deadline_session
from flask_clustershazbot.errors import MasterListError
from flask_clustershazbot.masterlist.file import FileMasterList
from flask_clustershazbot.masterlist.http import HttpMasterList
from flask_clustershazbot.protocol.model import ServerEntry

from ..support.drip import DripServer
from ..support.masterlist_server import MasterListServer
from ..support.merges import add, timed

NOW = int(time.time() * 1000)
CORRUPT = b"<html>not json</html>"


# -- HTTP: total deadline ------------------------------------------------------


@pytest.mark.parametrize("mode", ["body", "headers"])
def test_a_dripping_http_store_fails_read_and_update_within_the_request_timeout(mode: str) -> None:
    with DripServer(delay=0.3, body=b'{"online": [], "offline": []}', mode=mode) as drip:
        store = HttpMasterList(drip.url, drip.url, "Bearer x", session=deadline_session(), timeout=1, max_body=1 << 20)
        for action in (store.read, lambda: store.update(add(ServerEntry("http://a/", True, NOW, True)))):
            error, took = timed(action)
            assert isinstance(error, MasterListError), error
            assert "timed out" in str(error)
            assert took < 1 + 1, took


def test_a_put_answer_that_drips_is_bounded_too(master_store: MasterListServer) -> None:
    # Reads come from a healthy store; the write goes to one that drips its answer.
    with DripServer(delay=0.3, body=b"x" * 200) as drip:
        store = HttpMasterList(master_store.url, drip.url, "Bearer x", session=deadline_session(), timeout=1,
                               max_body=1 << 20)
        error, took = timed(lambda: store.update(add(ServerEntry("http://a/", True, NOW, True))))
        assert took < 1 + 1, took
        assert drip.hits == 1
        assert error is None or isinstance(error, MasterListError)


# -- HTTP: a corrupt list is replaced, conditionally -----------------------------


def test_a_corrupt_http_list_is_replaced_with_if_match_on_its_etag(master_store: MasterListServer) -> None:
    master_store.body = CORRUPT
    store = HttpMasterList(master_store.url, master_store.url, "Bearer store-secret", session=deadline_session(),
                           timeout=5, max_body=1 << 20)
    store.update(add(ServerEntry("http://a/", True, NOW, True)))
    assert master_store.statuses() == {"http://a/": True}
    assert master_store.seen_if_match == [MasterListServer.etag_of(CORRUPT)]


def test_concurrent_writers_replacing_a_corrupt_http_list_lose_nothing(master_store: MasterListServer) -> None:
    master_store.body = CORRUPT
    stores = [HttpMasterList(master_store.url, master_store.url, "Bearer store-secret", session=deadline_session(),
                             timeout=5, max_body=1 << 20) for _ in range(6)]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            stores[i].update(add(ServerEntry(f"http://s{i}/", True, NOW, True), pause=0.05))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert set(master_store.statuses()) == {f"http://s{i}/" for i in range(6)}
    assert None not in master_store.seen_if_match  # never a blind PUT over a stored list


# -- secrets ---------------------------------------------------------------------


def test_errors_and_logs_never_carry_the_credential_or_a_signed_query(
    master_store: MasterListServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="flask_clustershazbot")
    secret_query = "X-Amz-Signature=sig-very-secret"
    auth = "Bearer auth-very-secret"
    messages: list[str] = []
    master_store.require_auth_on_read = True  # so that both calls fail with 401
    with DripServer(delay=0.3, body=b"x" * 50) as drip:
        for base in (drip.url, "http://127.0.0.1:9/", master_store.url.rsplit("/", 1)[0] + "/"):
            url = base.replace("http://", "http://user:userinfo-very-secret@") + f"list.json?{secret_query}"
            store = HttpMasterList(url, url, auth, session=deadline_session(), timeout=1, max_body=1 << 20)
            for action in (store.read, lambda s=store: s.update(add(ServerEntry("http://a/", True, NOW, True)))):
                error, _ = timed(action)
                assert isinstance(error, MasterListError), error
                messages.append(str(error))
    master_store.body = CORRUPT  # a corrupt list is logged (with its redacted name)
    master_store.require_auth_on_read = False
    url = master_store.url + "?" + secret_query
    error, _ = timed(lambda: HttpMasterList(url, url, auth, session=deadline_session(), timeout=1,
                                            max_body=1 << 20).update(add(ServerEntry("http://a/", True, NOW, True))))
    assert isinstance(error, MasterListError) and "HTTP 401" in str(error)
    messages.append(str(error))
    text = "\n".join(messages) + "\n" + caplog.text
    assert "replacing it" in caplog.text
    for secret in ("very-secret", "sig-", "X-Amz-Signature"):
        assert secret not in text


# -- file:// ---------------------------------------------------------------------


def _update_through(link: str, name: str, count: int) -> None:
    store = FileMasterList(f"file://{link}", f"file://{link}")
    for k in range(count):
        store.update(add(ServerEntry(f"http://{name}-{k}/", True, NOW, True), pause=0.01))


def test_updates_through_two_symlinks_share_one_file_and_keep_the_links(tmp_path: Path) -> None:
    real_dir, a_dir, b_dir = tmp_path / "real", tmp_path / "a", tmp_path / "b"
    for d in (real_dir, a_dir, b_dir):
        d.mkdir()
    real = real_dir / "list.json"
    real.write_bytes(b"")
    (a_dir / "list.json").symlink_to(real)
    (b_dir / "list.json").symlink_to(os.path.relpath(real, b_dir))
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_update_through, args=(str(d / "list.json"), f"{d.name}{i}", 5))
               for d in (a_dir, b_dir) for i in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0] * len(workers)
    for d in (a_dir, b_dir):
        assert (d / "list.json").is_symlink()
        assert sorted(os.listdir(d)) == ["list.json"]  # no lock or temp file beside the link
    stored = {e.base_url for e in FileMasterList(f"file://{real}", f"file://{real}").read()}
    assert stored == {f"http://{d}{i}-{k}/" for d in ("a", "b") for i in range(3) for k in range(5)}


def test_the_link_may_change_between_updates(tmp_path: Path) -> None:
    first, second, link = tmp_path / "first.json", tmp_path / "second.json", tmp_path / "link.json"
    link.symlink_to(first)
    store = FileMasterList(f"file://{link}", f"file://{link}")
    store.update(add(ServerEntry("http://a/", True, NOW, True)))
    link.unlink()
    link.symlink_to(second)
    store.update(add(ServerEntry("http://b/", True, NOW, True)))
    assert link.is_symlink()
    assert [e.base_url for e in FileMasterList(f"file://{first}", f"file://{first}").read()] == ["http://a/"]
    assert [e.base_url for e in store.read()] == ["http://b/"]


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_master_list_that_is_not_a_regular_file_is_an_error_at_once(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "list.json"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()
    store = FileMasterList(f"file://{path}", f"file://{path}")
    for action in (store.read, lambda: store.update(add(ServerEntry("http://a/", True, NOW, True)))):
        result: list[tuple[BaseException | None, float]] = []
        runner = threading.Thread(target=lambda a=action, r=result: r.append(timed(a)), daemon=True)
        runner.start()
        runner.join(5)
        assert result, "blocked on a non-regular file"
        error, took = result[0]
        assert isinstance(error, MasterListError), error
        assert "not a regular file" in str(error)
        assert took < 1
    assert stat.S_ISFIFO(os.stat(path).st_mode) if kind == "fifo" else path.is_dir()


def test_a_lock_held_by_a_stuck_writer_is_an_error_after_the_timeout_not_a_hang(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    with open(str(path) + ".lock", "w") as holder:  # a writer that stopped while holding the lock
        fcntl.flock(holder, fcntl.LOCK_EX)
        store = FileMasterList(f"file://{path}", f"file://{path}", timeout=1)
        result: list[tuple[BaseException | None, float]] = []
        runner = threading.Thread(
            target=lambda: result.append(timed(lambda: store.update(add(ServerEntry("http://a/", True, NOW, True))))),
            daemon=True,
        )
        runner.start()
        runner.join(10)
        assert result, "blocked on the lock"
        error, took = result[0]
        assert isinstance(error, MasterListError) and "still locked" in str(error)
        assert 0.9 < took < 2.5
    store.update(add(ServerEntry("http://a/", True, NOW, True)))  # free again: works
    assert [e.base_url for e in store.read()] == ["http://a/"]
