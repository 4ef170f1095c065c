"""The status page in a real headless Chromium (Debian's), driven by Playwright."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from ..support.cluster import CONTROL_SECRET, GOSSIP_SECRET, Server
from ..support.tools import require_tool
from ..support.waiting import wait_until

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def test_status_page_needs_the_control_secret(servers: Callable[..., Server], http_env: dict[str, str]) -> None:
    server = servers("locked", http_env)
    page = server.url("")
    anonymous = requests.get(page, timeout=5)
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Basic")
    assert requests.get(page, auth=("ops", GOSSIP_SECRET), timeout=5).status_code == 401
    assert requests.get(server.url("status.json"), auth=("anyone", CONTROL_SECRET), timeout=5).json()["online"] >= 1
    opened = requests.get(page, auth=("ops", CONTROL_SECRET), timeout=5)
    assert opened.status_code == 200 and "<script" in opened.text and "http://" not in opened.text.split("<body>")[0]


def test_page_shows_the_cluster_and_a_drain_in_chromium(
    servers: Callable[..., Server], http_env: dict[str, str], tmp_path: Path
) -> None:
    chromium = require_tool("chromium", "chromium")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    group = [servers(f"s{i}", http_env) for i in range(3)]
    wait_until(lambda: all(len(s.view()) == 3 and all(s.view().values()) for s in group), timeout=30,
               what="three servers to meet")
    a, b, _ = group
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(http_credentials={"username": "ops", "password": CONTROL_SECRET})
            page = context.new_page()
            console: list[str] = []
            page.on("console", lambda message: console.append(message.text))
            page.goto(a.url(""))
            # A locator, not wait_for_function: its polling evals a string,
            # which the page's CSP (no 'unsafe-eval') rightly refuses.
            page.locator("#servers tr").nth(2).wait_for(timeout=15_000)
            assert page.locator("#servers tr").count() == 3
            for server in group:
                assert page.locator(f'tr[data-url="{server.base_url}"] .badge').inner_text() == "online"
            # The style file applied under the page's CSP ('self' only), and nothing was blocked.
            badge = page.locator(f'tr[data-url="{a.base_url}"] .badge')
            assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(217, 245, 225)"
            assert not [text for text in console if "Content Security Policy" in text], console
            assert "online" in page.locator("#self").inner_text()
            page.screenshot(path=str(tmp_path / "before.png"))
            assert b.control(False).status_code == 200
            page.wait_for_selector(f'tr[data-url="{b.base_url}"] .badge.offline', timeout=15_000)
            page.screenshot(path=str(tmp_path / "after.png"))
        finally:
            browser.close()
