"""The s3:// master list under hostile conditions: endpoints that stall or drip
(total deadline), a corrupt stored list, and many concurrent writers, against
fake endpoints and moto in server mode."""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable, Iterator
from functools import partial

import pytest

from flask_clustershazbot.errors import MasterListError
from flask_clustershazbot.protocol.model import ServerEntry

from ..support.drip import DripServer
from ..support.fake_s3 import StallingS3
from ..support.merges import add, timed
from .test_s3_store import moto_endpoint

boto3 = pytest.importorskip("boto3")
from flask_clustershazbot.masterlist.s3 import S3MasterList  # noqa: E402  (needs boto3)

__all__ = ["moto_endpoint"]  # the fixture, imported for use here

URL = "s3://cluster/members.json"
NOW = int(time.time() * 1000)
CORRUPT = b"<html>not json</html>"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret-key")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    yield lambda endpoint: monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)


TIMEOUT = 1.0
SLACK = 1.5


@pytest.mark.parametrize("stall", [frozenset({"GET", "PUT"}), frozenset({"PUT"})], ids=["get", "put"])
def test_an_s3_endpoint_that_stalls_mid_body_is_a_master_list_error_within_the_timeout(
    aws_env: Callable[[str], None], stall: frozenset[str]
) -> None:
    with StallingS3(length=400, send=20, stall=stall) as fake:
        aws_env(fake.url)
        store = S3MasterList(URL, URL, timeout=TIMEOUT, max_body=1 << 20)
        actions: list[Callable[..., object]] = [store.update] if "GET" not in stall else [store.read, store.update]
        for action in actions:
            change = add(ServerEntry("http://a/", True, NOW, True))
            error, took = timed(partial(action, change) if action == store.update else action)
            assert isinstance(error, MasterListError), repr(error)
            assert took < TIMEOUT + SLACK, took
        assert fake.hits


def test_a_dripping_s3_endpoint_is_a_master_list_error_within_the_timeout(aws_env: Callable[[str], None]) -> None:
    with DripServer(delay=0.2, body=b"x" * 100) as drip:
        aws_env(drip.url.rstrip("/"))
        store = S3MasterList(URL, URL, timeout=TIMEOUT, max_body=1 << 20)
        for action in (store.read, lambda: store.update(add(ServerEntry("http://a/", True, NOW, True)))):
            error, took = timed(action)
            assert isinstance(error, MasterListError), repr(error)
            assert "timed out" in str(error)
            assert took < TIMEOUT + SLACK, took


def test_a_corrupt_s3_list_is_replaced(moto_endpoint: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="flask_clustershazbot")
    boto3.client("s3").put_object(Bucket="cluster", Key="members.json", Body=CORRUPT)
    store = S3MasterList(URL, URL, timeout=5, max_body=1 << 20)
    with pytest.raises(MasterListError):
        store.read()
    store.update(add(ServerEntry("http://a/", True, NOW, True)))
    assert [e.base_url for e in store.read()] == ["http://a/"]
    assert "replacing it" in caplog.text and "gave up" not in caplog.text


def test_concurrent_writers_replacing_a_corrupt_s3_list_lose_nothing(moto_endpoint: str) -> None:
    boto3.client("s3").put_object(Bucket="cluster", Key="members.json", Body=CORRUPT)
    _race(8, 1)


def _write_many(index: int, count: int, start: float) -> None:
    store = S3MasterList(URL, URL, timeout=5, max_body=1 << 20)
    while time.time() < start:  # line the writers up so that they collide
        time.sleep(0.005)
    for k in range(count):
        store.update(add(ServerEntry(f"http://w{index}-{k}/", True, NOW, True), pause=0.02))


def _race(writers: int, count: int) -> None:
    ctx = multiprocessing.get_context("spawn")
    start = time.time() + 4
    processes = [ctx.Process(target=_write_many, args=(i, count, start)) for i in range(writers)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(120)
    assert [p.exitcode for p in processes] == [0] * writers
    stored = {e.base_url for e in S3MasterList(URL, URL, timeout=5, max_body=1 << 20).read()}
    assert stored == {f"http://w{i}-{k}/" for i in range(writers) for k in range(count)}


def test_eight_concurrent_s3_writers_lose_nothing(moto_endpoint: str) -> None:
    _race(8, 4)
