"""Small helpers for master-list store tests: a merge that adds one entry,
and timing a call that may fail."""

from __future__ import annotations

import time
from collections.abc import Callable

from flask_clustershazbot.protocol.model import ServerEntry


def add(entry: ServerEntry, pause: float = 0.0) -> Callable[[list[ServerEntry]], list[ServerEntry]]:
    """A merge function for ``update()`` that puts ``entry`` in the list
    (after ``pause`` seconds, to widen races)."""

    def merge(current: list[ServerEntry]) -> list[ServerEntry]:
        time.sleep(pause)
        return [e for e in current if e.base_url != entry.base_url] + [entry]

    return merge


def timed(action: Callable[[], object]) -> tuple[BaseException | None, float]:
    """Run ``action``; return what it raised (or None) and how long it took."""
    started = time.monotonic()
    try:
        action()
    except BaseException as exc:
        return exc, time.monotonic() - started
    return None, time.monotonic() - started
