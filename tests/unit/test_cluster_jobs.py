"""Cluster jobs without a server: fire times every server agrees on, and the
double/miss window the simulator measures (bench/cluster_jobs.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bench.cluster_jobs import measure
from flask_clustershazbot.jobs import make_trigger


def test_interval_fire_times_are_the_same_whenever_a_server_schedules_them() -> None:
    # Two servers (or a worker taking the lead later) build the trigger at different moments.
    first = make_trigger("interval", {"seconds": 7})
    second = make_trigger("interval", {"seconds": 7})
    now = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=timezone.utc)
    later = now + timedelta(seconds=3.3)
    a = first.get_next_fire_time(None, now)
    b = second.get_next_fire_time(None, later)
    assert a is not None and b is not None
    assert (b - a).total_seconds() % 7 == 0
    assert a > now and (a - now).total_seconds() <= 7


def test_cron_is_in_utc_unless_told_otherwise() -> None:
    trigger = make_trigger("cron", {"hour": 3, "minute": 15})
    fire = trigger.get_next_fire_time(None, datetime(2031, 5, 6, 12, 0, tzinfo=timezone.utc))
    assert fire is not None and fire.utcoffset() == timedelta(0) and (fire.hour, fire.minute) == (3, 15)


@pytest.mark.parametrize("seed", [1, 2])
def test_a_join_doubles_fires_and_a_drain_or_crash_misses_some_only_while_spreading(seed: int) -> None:
    join = measure("join", 20, seed)
    assert join.doubled >= 1 and join.missed == 0 and join.doubled <= join.spread + 1
    for event in ("leave", "drain", "crash"):
        outcome = measure(event, 20, seed)
        assert outcome.doubled == 0 and 1 <= outcome.missed <= outcome.spread + 1, (event, outcome)
