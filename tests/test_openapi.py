"""The shipped OpenAPI document is generated from the schemas and served."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources

from flask import Flask

from flask_clustershazbot.openapi import build_openapi


def test_shipped_document_matches_the_schemas() -> None:
    shipped = json.loads(resources.files("flask_clustershazbot").joinpath("openapi.json").read_text())
    regenerate = "python -m flask_clustershazbot.openapi > flask_clustershazbot/openapi.json"
    assert shipped == build_openapi(), f"regenerate: {regenerate}"


def test_served_without_auth_under_the_configured_prefix(make_app: Callable[..., Flask]) -> None:
    app = make_app(SHAZBOT_URL_PREFIX="/members")
    response = app.test_client().get("/members/openapi.json")
    assert response.status_code == 200
    assert set(response.get_json()["paths"]) == {"/members/gossip", "/members/list", "/members/control"}
