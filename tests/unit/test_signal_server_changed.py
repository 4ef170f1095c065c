"""The ``server_changed`` signal (issue 13): sent when a known server's
metadata changes, never for a transition (``server_online`` and
``server_offline`` carry the entry, metadata included), in order after them
and before ``view_changed``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from flask_clustershazbot import signals
from flask_clustershazbot.protocol.metadata import Meta
from flask_clustershazbot.protocol.model import ServerEntry
from flask_clustershazbot.signal_dispatch import SignalDispatcher

from ..support.waiting import wait_until

Event = tuple[str, Any]


def entry(url: str, online: bool = True, version: int = 1000, **meta: str) -> ServerEntry:
    pairs: Meta = tuple(sorted(meta.items()))
    return ServerEntry(url, False, version, online, pairs)


@pytest.fixture
def recorded() -> Iterator[tuple[SignalDispatcher, list[Event]]]:
    """A dispatcher for a fresh app, with every signal recorded in order."""
    app = Flask("server_changed_app")
    events: list[Event] = []
    receivers: list[tuple[Any, Callable[..., None]]] = []

    def on(name: str) -> Callable[..., None]:
        def receive(sender: Flask, **kwargs: Any) -> None:
            if name == "view_changed":
                events.append((name, (kwargs["online"], kwargs["offline"])))
            else:
                events.append((name, (kwargs["base_url"], kwargs["entry"])))

        return receive

    for name in ("server_online", "server_offline", "server_changed", "view_changed"):
        receiver = on(name)
        getattr(signals, name).connect(receiver, sender=app)
        receivers.append((getattr(signals, name), receiver))
    dispatcher = SignalDispatcher(app)
    yield dispatcher, events
    dispatcher.close(timeout=2)
    for sig, receiver in receivers:
        sig.disconnect(receiver)


def deliver(dispatcher: SignalDispatcher, events: list[Event], view: list[ServerEntry], count: int) -> list[Event]:
    """Post ``view`` and wait for ``count`` more events; the new events."""
    before = len(events)
    dispatcher.post(view)
    wait_until(lambda: len(events) >= before + count, what=f"{count} signal(s)")
    return events[before:]


def test_a_metadata_change_of_a_known_server_is_signalled_with_its_new_entry(
    recorded: tuple[SignalDispatcher, list[Event]],
) -> None:
    dispatcher, events = recorded
    a, b = entry("http://a/", role="web"), entry("http://b/")
    deliver(dispatcher, events, [a, b], 3)  # two online, one view_changed
    changed_a = entry("http://a/", version=2000, role="worker")
    changed_b = entry("http://b/", version=2000, zone="eu")
    got = deliver(dispatcher, events, [changed_a, changed_b], 3)
    assert got == [
        ("server_changed", ("http://a/", changed_a)),
        ("server_changed", ("http://b/", changed_b)),
        ("view_changed", ([], [])),
    ]
    assert got[0][1][1].metadata == {"role": "worker"}


def test_a_new_server_with_metadata_gets_server_online_only(
    recorded: tuple[SignalDispatcher, list[Event]],
) -> None:
    dispatcher, events = recorded
    deliver(dispatcher, events, [entry("http://a/")], 2)
    newcomer = entry("http://b/", role="web")
    got = deliver(dispatcher, events, [entry("http://a/"), newcomer], 2)
    assert got == [("server_online", ("http://b/", newcomer)), ("view_changed", (["http://b/"], []))]


def test_a_transition_with_new_metadata_is_only_the_transition(
    recorded: tuple[SignalDispatcher, list[Event]],
) -> None:
    # An older peer's failure verdict carries no metadata: the offline entry
    # loses it, and server_offline (with that entry) says all there is.
    dispatcher, events = recorded
    deliver(dispatcher, events, [entry("http://a/", role="web"), entry("http://b/")], 3)
    verdict = entry("http://a/", online=False, version=1001)
    got = deliver(dispatcher, events, [verdict, entry("http://b/", zone="eu", version=2000)], 3)
    assert got == [
        ("server_offline", ("http://a/", verdict)),
        ("server_changed", ("http://b/", entry("http://b/", zone="eu", version=2000))),
        ("view_changed", ([], ["http://a/"])),
    ]


def test_heartbeats_and_unchanged_metadata_signal_nothing(
    recorded: tuple[SignalDispatcher, list[Event]],
) -> None:
    dispatcher, events = recorded
    deliver(dispatcher, events, [entry("http://a/", role="web")], 2)
    dispatcher.post([entry("http://a/", version=5000, role="web")])  # a heartbeat only
    # Then a real change: had the heartbeat signalled anything, it would come first.
    got = deliver(dispatcher, events, [entry("http://a/", version=6000, role="db")], 2)
    assert [name for name, _ in got] == ["server_changed", "view_changed"]
    assert got[0][1][1].metadata == {"role": "db"}


def test_a_drained_server_that_changes_its_metadata_is_signalled(
    recorded: tuple[SignalDispatcher, list[Event]],
) -> None:
    dispatcher, events = recorded
    deliver(dispatcher, events, [entry("http://a/", online=False), entry("http://b/")], 2)
    tagged = entry("http://a/", online=False, version=2000, role="web")
    got = deliver(dispatcher, events, [tagged, entry("http://b/")], 2)
    assert got[0] == ("server_changed", ("http://a/", tagged))
