"""The status page through Flask's WSGI stack: template, static files, CSP, auth."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask

from ..support.cluster import CONTROL_SECRET, GOSSIP_SECRET


def policy(header: str) -> dict[str, list[str]]:
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: values for name, *values in directives}


def assets(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


def test_page_policy_allows_no_inline_code_and_nothing_from_elsewhere(make_app: Callable[..., Flask]) -> None:
    response = make_app().test_client().get("/clustershazbot/", auth=("ops", CONTROL_SECRET))
    assert response.status_code == 200 and response.mimetype == "text/html"
    header = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in header and "unsafe-eval" not in header
    directives = policy(header)
    assert directives["default-src"] == ["'none'"]
    assert directives["script-src"] == ["'self'"] and directives["style-src"] == ["'self'"]
    assert directives["connect-src"] == ["'self'"] and directives["frame-ancestors"] == ["'none'"]
    html = response.get_data(as_text=True)
    # No inline script or style left for the policy to block.
    assert "<style" not in html and re.search(r"<script(?![^>]*\ssrc=)", html) is None
    assert " style=" not in html and re.search(r"\son[a-z]+=", html) is None


@pytest.mark.parametrize("prefix", ["/clustershazbot", "/ops/members"])
def test_script_and_style_are_served_under_the_prefix_with_their_content_types(
    make_app: Callable[..., Flask], prefix: str
) -> None:
    client = make_app(SHAZBOT_URL_PREFIX=prefix).test_client()
    page = client.get(f"{prefix}/", auth=("ops", CONTROL_SECRET)).get_data(as_text=True)
    linked = assets(page)
    assert len(linked) == 2 and all(url.startswith(f"{prefix}/static/") for url in linked)
    types = {}
    for url in linked:
        # No secret needed: the files hold no cluster data.
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        # Revalidated on every load, so an upgrade's script is never mixed with an old page.
        assert "no-cache" in response.headers["Cache-Control"] and response.headers["ETag"]
        types[url.rsplit(".", 1)[1]] = response.headers["Content-Type"]
        assert response.get_data()
    assert types == {"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8"}


def test_an_unchanged_file_is_answered_304(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    first = client.get("/clustershazbot/static/shazbot-status.js")
    again = client.get("/clustershazbot/static/shazbot-status.js", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and not again.get_data()


def test_the_script_polls_status_json_relative_to_the_page(make_app: Callable[..., Flask]) -> None:
    script = make_app().test_client().get("/clustershazbot/static/shazbot-status.js").get_data(as_text=True)
    assert 'fetch("status.json"' in script and "setInterval(refresh, 2000)" in script
    assert "innerHTML" not in script  # peer-supplied text goes in as text only


@pytest.mark.parametrize("name", ["nope.js", "shazbot-status.JS", "%2e%2e", "status_page.py"])
def test_unknown_static_files_are_a_json_404(make_app: Callable[..., Flask], name: str) -> None:
    response = make_app().test_client().get(f"/clustershazbot/static/{name}")
    assert response.status_code == 404 and response.get_json() == {"error": "No such file."}


@pytest.mark.parametrize("path", ["..%2Fstatus_page.py", "../status_page.py", "..%2F..%2Fconfig.py"])
def test_static_paths_cannot_leave_the_static_folder(make_app: Callable[..., Flask], path: str) -> None:
    response = make_app().test_client().get(f"/clustershazbot/static/{path}")
    assert response.status_code == 404 and b"import" not in response.get_data()


def test_page_still_needs_the_control_secret(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    assert client.get("/clustershazbot/").status_code == 401
    assert client.get("/clustershazbot/", auth=("ops", GOSSIP_SECRET)).status_code == 401
    assert client.get("/clustershazbot/status.json").status_code == 401
