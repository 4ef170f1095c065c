"""The s3:// master-list backend against moto in server mode, over real HTTP."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests

from flask_clustershazbot.errors import MasterListError
from flask_clustershazbot.protocol.model import ServerEntry

from ..support.cluster import free_port
from ..support.waiting import wait_until

boto3 = pytest.importorskip("boto3")


@pytest.fixture
def moto_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    pytest.importorskip("moto.server")
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-key")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    try:
        wait_until(lambda: requests.get(endpoint, timeout=2).status_code < 500, timeout=30, what="moto to serve")
        boto3.client("s3").create_bucket(Bucket="cluster")
        yield endpoint
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_s3_store_reads_writes_and_loses_no_concurrent_write(
    moto_endpoint: str, make_app: Callable[..., object]
) -> None:
    app = make_app(SHAZBOT_MASTER_LIST="s3://cluster/members.json", SHAZBOT_MASTER_LIST_UPDATE="s3://cluster/members.json",
                   SHAZBOT_MASTER_LIST_UPDATE_AUTH=None)
    store = app.extensions["shazbot"].node.master_list  # type: ignore[attr-defined]
    assert store.read() == []
    now = int(time.time() * 1000)

    def add(entry: ServerEntry) -> None:
        def merge(current: list[ServerEntry]) -> list[ServerEntry]:
            time.sleep(0.05)  # widen the read-merge-write window so writers overlap
            return [e for e in current if e.base_url != entry.base_url] + [entry]

        store.update(merge)

    writers = [threading.Thread(target=add, args=(ServerEntry(f"http://s{i}/", False, now, True),)) for i in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert {e.base_url for e in store.read()} == {f"http://s{i}/" for i in range(4)}


def test_s3_errors_are_one_clear_line_without_secrets(
    moto_endpoint: str, make_app: Callable[..., object], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    app = make_app(SHAZBOT_MASTER_LIST="s3://no-such-bucket/members.json",
                   SHAZBOT_MASTER_LIST_UPDATE="s3://no-such-bucket/members.json")
    node = app.extensions["shazbot"].node  # type: ignore[attr-defined]
    with pytest.raises(MasterListError) as caught:
        node.announce()
    assert str(caught.value) == "reading master list s3://no-such-bucket/members.json failed: NoSuchBucket"
    assert "testing-secret-key" not in caplog.text + str(caught.value)
