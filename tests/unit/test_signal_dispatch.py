"""Signal delivery (issue 15, item 3), without a network: which transitions a
view change makes, and a dispatcher that isolates receivers, keeps only the
latest view while a receiver is busy, and closes within its timeout."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from flask_clustershazbot import signals
from flask_clustershazbot.protocol.model import ServerEntry
from flask_clustershazbot.signal_dispatch import SignalDispatcher, transitions

from ..support.waiting import wait_until

# -- transitions() -------------------------------------------------------------


def test_first_view_signals_every_online_server_and_no_offline_one() -> None:
    assert transitions({}, {"http://b/": True, "http://a/": True, "http://c/": False}) == (
        ["http://a/", "http://b/"], [])


def test_only_changes_are_transitions() -> None:
    before = {"http://a/": True, "http://b/": True, "http://c/": False}
    assert transitions(before, dict(before)) == ([], [])
    assert transitions(before, {"http://a/": False, "http://b/": True, "http://c/": True}) == (
        ["http://c/"], ["http://a/"])


def test_a_forgotten_online_server_went_offline_and_a_forgotten_offline_one_says_nothing() -> None:
    assert transitions({"http://a/": True, "http://c/": False}, {"http://b/": False}) == ([], ["http://a/"])


def test_an_offline_server_never_signalled_online_is_not_signalled_offline() -> None:
    assert transitions({"http://a/": False}, {"http://a/": False}) == ([], [])
    assert transitions({}, {"http://a/": False}) == ([], [])


# -- SignalDispatcher, without a network ---------------------------------------


def entry(url: str, online: bool = True) -> ServerEntry:
    return ServerEntry(url, False, 1000, online)


Connect = Callable[[Any, Callable[..., None]], None]


@pytest.fixture
def signal_app() -> Flask:
    return Flask("dispatch_app")


@pytest.fixture
def connect(signal_app: Flask) -> Iterator[Connect]:
    """Connect receivers for ``signal_app``; all disconnected at the end."""
    connected: list[tuple[Any, Callable[..., None]]] = []

    def connect(sig: Any, receiver: Callable[..., None]) -> None:
        sig.connect(receiver, sender=signal_app)
        connected.append((sig, receiver))

    yield connect
    for sig, receiver in connected:
        sig.disconnect(receiver)


def test_dispatcher_isolates_receivers_and_logs_the_raising_ones_name(
    signal_app: Flask, connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    got: list[str] = []
    raised: list[str] = []

    def exploding_receiver(sender: Flask, base_url: str, entry: ServerEntry) -> None:
        raised.append(base_url)
        raise RuntimeError("a bug in the host app")

    def careful_receiver(sender: Flask, base_url: str, entry: ServerEntry) -> None:
        got.append(base_url)

    connect(signals.server_online, exploding_receiver)
    connect(signals.server_online, careful_receiver)
    dispatcher = SignalDispatcher(signal_app)
    try:
        with caplog.at_level(logging.ERROR, "flask_clustershazbot"):
            dispatcher.post([entry("http://a/"), entry("http://b/"), entry("http://c/")])
            wait_until(lambda: len(got) == 3 and len(raised) == 3, what="every receiver called for every server")
            wait_until(lambda: caplog.text.count("exploding_receiver") >= 3, what="three logged failures")
    finally:
        dispatcher.close(timeout=2)
    assert sorted(got) == sorted(raised) == ["http://a/", "http://b/", "http://c/"]
    assert "careful_receiver" not in caplog.text


def test_dispatcher_close_is_bounded_while_a_receiver_blocks(signal_app: Flask, connect: Connect) -> None:
    entered, release = threading.Event(), threading.Event()

    def stuck_receiver(sender: Flask, **changed: Any) -> None:
        entered.set()
        release.wait(30)

    connect(signals.view_changed, stuck_receiver)
    dispatcher = SignalDispatcher(signal_app)
    dispatcher.post([entry("http://a/")])
    wait_until(entered.is_set, what="the receiver to block")
    began = time.monotonic()
    for _ in range(1000):  # posting never blocks, and a full mailbox keeps only the latest
        dispatcher.post([entry("http://a/"), entry("http://b/")])
    dispatcher.close(timeout=0.5)
    took = time.monotonic() - began
    release.set()
    assert took < 5, took
