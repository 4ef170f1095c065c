"""A stop is never lost to a locked state (docs/rolling-restarts.md): if the
shared SQLite state is locked when shutdown() runs (a process stopped in a
write transaction, docs/protocol.md section 7), shutdown() logs it and still
stops the server, with or without a lame duck, instead of raising before
stopping and leaving it running and online."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from flask_clustershazbot import Shazbot


@pytest.mark.parametrize("lame_duck", ["0.5", "0"], ids=["lame-duck", "none"])
def test_shutdown_stops_without_raising_while_the_state_is_locked(
    make_app: Callable[..., Flask], tmp_path: Path, caplog: pytest.LogCaptureFixture, lame_duck: str
) -> None:
    state = tmp_path / "state.sqlite3"
    app = make_app(SHAZBOT_STATE_PATH=str(state), SHAZBOT_LAME_DUCK=lame_duck, SHAZBOT_SHUTDOWN_TIMEOUT="1",
                   SHAZBOT_MASTER_ANNOUNCE_MINIMUM="60")
    shazbot: Shazbot = app.extensions["shazbot"]
    shazbot.start()
    holder = sqlite3.connect(str(state), isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another process, stopped mid-write
    # It resumes only after shutdown() returned (or, as a safety net, 20 s on).
    resumed = threading.Event()
    release = threading.Thread(target=lambda: (resumed.wait(20), holder.execute("ROLLBACK")), daemon=True)
    release.start()
    errors: list[BaseException] = []
    try:
        try:
            shazbot.shutdown()
        except BaseException as exc:
            errors.append(exc)
    finally:
        resumed.set()
        release.join()
        holder.close()
    assert not shazbot.is_leader, f"the gossip loop still runs after shutdown() (raised {errors!r})"
    assert errors == [], "shutdown() raised instead of logging and stopping"
    assert "could not say goodbye" in caplog.text
