"""The shipped OpenAPI document is generated from the schemas and served."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources

import pytest
from flask import Flask

from flask_clustershazbot.web.openapi import build_openapi


def test_shipped_document_matches_the_schemas() -> None:
    pytest.importorskip("apispec")
    shipped = json.loads(resources.files("flask_clustershazbot.web").joinpath("openapi.json").read_text())
    regenerate = "python -m flask_clustershazbot.web.openapi > flask_clustershazbot/web/openapi.json"
    assert shipped == build_openapi(), f"regenerate: {regenerate}"


def test_served_without_auth_under_the_configured_prefix(make_app: Callable[..., Flask]) -> None:
    app = make_app(SHAZBOT_URL_PREFIX="/members")
    response = app.test_client().get("/members/openapi.json")
    assert response.status_code == 200
    paths = set(response.get_json()["paths"])
    assert paths == {"/members/gossip", "/members/list", "/members/control", "/members/probe", "/members/owner/{key}"}


def test_405_answers_are_described_and_served_as_described(make_app: Callable[..., Flask]) -> None:
    pytest.importorskip("apispec")
    document = build_openapi()
    client = make_app().test_client()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            described = operation["responses"]["405"]
            assert described["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
            assert "Allow" in described["headers"]
            wrong = "delete"
            response = client.open(path, method=wrong.upper())
            assert response.status_code == 405 and response.is_json, path
            assert response.headers["Allow"].split(", ")[0] in ("POST", "GET", "HEAD", "OPTIONS"), path
            assert method.upper() in response.headers["Allow"], path
