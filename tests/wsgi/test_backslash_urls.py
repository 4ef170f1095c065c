"""A base URL with a backslash is refused wherever it enters (here: gossip):
urlsplit keeps the backslash in the host, while urllib3 (what requests
connects with) and browsers read it as a "/", so the allow-list would check
one host and the server would contact another."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from flask import Flask

from flask_clustershazbot import Shazbot

from ..support.cluster import GOSSIP_SECRET

GOSSIP = {"Authorization": f"Bearer {GOSSIP_SECRET}"}


@pytest.mark.parametrize(
    "url",
    [
        "http://2130706433\\.x.shazbot.test:8000/",  # urllib3 reaches 127.0.0.1
        "http://peer.shazbot.test\\@elsewhere.example/",
        "http://peer.shazbot.test/app\\x/",
    ],
)
def test_a_gossiped_base_url_with_a_backslash_is_a_400_and_changes_nothing(
    make_app: Callable[..., Flask], url: str
) -> None:
    app = make_app()
    shazbot: Shazbot = app.extensions["shazbot"]
    before = shazbot.servers()
    entry = {"baseUrl": url, "monitor": False, "lastUpdate": int(time.time() * 1000)}
    response = app.test_client().post(
        "/clustershazbot/gossip", json={"message": "gossip", "online": [entry]}, headers=GOSSIP
    )
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "backslash" in response.get_data(as_text=True)
    assert shazbot.servers() == before
