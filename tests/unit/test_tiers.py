"""The test suite's own guarantees (tests/conftest.py): each test carries its
tier's marker, no SHAZBOT_* variable from the developer's shell reaches a
test, and the in-process tiers cannot open sockets or start processes."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask

from flask_clustershazbot import Shazbot

from ..support.config import config_dict


def test_each_test_is_marked_with_its_tier(request: pytest.FixtureRequest) -> None:
    assert request.node.get_closest_marker("unit") is not None
    assert request.node.get_closest_marker("integration") is None


def test_the_developers_shazbot_variables_do_not_reach_the_app(tmp_path: Path) -> None:
    # Run with e.g. SHAZBOT_GOSSIP_INTERVAL=7 in the shell: still the default.
    app = Flask("tiers")
    app.config.update(config_dict(tmp_path))
    assert Shazbot(app).config.gossip_interval == 30.0


def test_a_socket_in_the_unit_tier_fails_the_test() -> None:
    with socket.socket() as sock:
        with pytest.raises(AssertionError, match="move it to tests/integration"):
            sock.bind(("127.0.0.1", 0))
        with pytest.raises(AssertionError, match="move it to tests/integration"):
            sock.connect(("127.0.0.1", 9))


def test_a_process_in_the_unit_tier_fails_the_test() -> None:
    with pytest.raises(AssertionError, match="move it to tests/integration"):
        subprocess.run([sys.executable, "-c", "pass"], check=False)
