"""A server already drained when asked to stop is out of rotation already:
its lame duck (SHAZBOT_LAME_DUCK) counts from the drain, so it waits only
what is left of it, and not at all once that has passed
(docs/rolling-restarts.md)."""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import Flask

from flask_clustershazbot import Shazbot

from ..support.waiting import wait_until

LAME_DUCK = 1.5


def drained_app(make_app: Callable[..., Flask]) -> tuple[Shazbot, float]:
    """A started server with a lame duck, drained; and when it was drained."""
    app = make_app(SHAZBOT_LAME_DUCK=str(LAME_DUCK), SHAZBOT_MASTER_ANNOUNCE_MINIMUM="60")
    shazbot: Shazbot = app.extensions["shazbot"]
    shazbot.start()
    with app.app_context():
        shazbot.set_online(False)
        assert not shazbot.is_online
    return shazbot, time.monotonic()


def timed_shutdown(shazbot: Shazbot) -> float:
    began = time.monotonic()
    shazbot.shutdown()
    return time.monotonic() - began


def test_a_server_drained_longer_than_the_lame_duck_ago_stops_at_once(make_app: Callable[..., Flask]) -> None:
    shazbot, drained_at = drained_app(make_app)
    wait_until(lambda: time.monotonic() - drained_at > LAME_DUCK + 0.1, timeout=10, interval=0.05,
               what="the lame duck to have passed since the drain")
    took = timed_shutdown(shazbot)
    assert took < LAME_DUCK / 2, f"waited {took:.2f}s: a lame duck again after a drain that long ago"
    assert not shazbot.is_leader


def test_a_server_drained_just_before_its_stop_waits_the_rest_of_the_lame_duck(
    make_app: Callable[..., Flask]
) -> None:
    shazbot, drained_at = drained_app(make_app)
    timed_shutdown(shazbot)
    # Load balancers may not have seen the drain yet: out of rotation only a lame duck after it.
    assert time.monotonic() - drained_at >= LAME_DUCK - 0.1
    assert not shazbot.is_leader
